"""Stripe: customers (read, upsert by email), invoices and payment intents (read), with a secret key."""

from __future__ import annotations

from connectors.base import Capabilities, Provider, RateLimit
from connectors.providers.stripe.client import OBJECTS, StripeClient, StripeConfig


class StripeProvider(Provider):
    key = "stripe"
    label = "Stripe"
    auth_scheme = "bearer"
    config_model = StripeConfig
    # A secret key (sk_live_/sk_test_) or a restricted key (rk_) with read access to the objects used.
    credential_fields = ("secret_key",)
    objects = dict(OBJECTS)
    capabilities = {
        # Stripe has no batch endpoints: a batch is one request per customer (plus a lookup by email).
        # Deleting is final in Stripe; the customer.deleted event shows it in incremental reads.
        "customers": Capabilities(upsert_key="email", batch_size=100, webhooks=True, delete=True, find=True),
        "invoices": Capabilities(create=False, update=False, webhooks=True),
        "payment_intents": Capabilities(create=False, update=False, webhooks=True),
    }
    client_class = StripeClient
    # Stripe's documented limit: 25 requests per second in test mode (100 in live mode, 20 for search
    # in both; override per connection for live keys). A burst of 5 leaves 20 a second sustained.
    rate_limit = RateLimit(requests=25, interval_seconds=1, burst=5)
