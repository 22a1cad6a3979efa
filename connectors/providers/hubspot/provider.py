"""HubSpot CRM: contacts, companies, deals, tickets and tasks, with a private-app token or "Connect with HubSpot".

Also here: associations between records (`HubSpotClient.associations`) and the check of the signature
HubSpot puts on app webhooks (`connectors.providers.hubspot.webhooks.verify_signature`).
"""

from __future__ import annotations

from connectors.base import Capabilities, OAuthSpec, Provider, RateLimit
from connectors.providers.hubspot.client import OBJECTS, HubSpotClient, HubSpotConfig


class HubSpotProvider(Provider):
    key = "hubspot"
    label = "HubSpot CRM"
    # Both ways of connecting end in a bearer token: typed in (private app) or obtained by OAuth.
    auth_scheme = "bearer"
    config_model = HubSpotConfig
    credential_fields = ("access_token",)
    objects = dict(OBJECTS)
    # Every object can be looked up by any property (search, EQ) and deleted (HubSpot archives).
    capabilities = {
        "contacts": Capabilities(upsert_key="email", batch_size=100, webhooks=True, delete=True, find=True),
        "companies": Capabilities(upsert_key="domain", batch_size=100, webhooks=True, delete=True, find=True),
        # No natural key: written by id when linked, created (one request each) otherwise.
        "deals": Capabilities(upsert_key=None, batch_size=100, webhooks=True, delete=True, find=True),
        "tickets": Capabilities(upsert_key=None, batch_size=100, webhooks=True, delete=True, find=True),
        # Follow-up tasks for a record's owner; HubSpot sends no webhooks for them.
        "tasks": Capabilities(upsert_key=None, batch_size=100, delete=True, find=True),
    }
    client_class = HubSpotClient
    # HubSpot's documented burst limit for the smallest plans: 100 requests per rolling 10 seconds per
    # account (private apps on Free/Starter; OAuth apps get 110, Professional/Enterprise 190 - override
    # per connection). The governor spends a window's 100 at once, then keeps to the rolling window.
    rate_limit = RateLimit(requests=100, interval_seconds=10)
    # The CRM search endpoints (POST /crm/v3/objects/<object>/search, how changes are listed) have a
    # limit of their own: 5 requests per second per account, counted in the account's limit too.
    path_rate_limits = ((r"/search$", RateLimit(requests=5, interval_seconds=1)),)
    oauth = OAuthSpec(
        authorize_url="https://app.hubspot.com/oauth/authorize",
        token_url="https://api.hubapi.com/oauth/v1/token",  # noqa: S106 - a public URL, not a secret
        scopes=(
            "oauth",
            "crm.objects.contacts.read",
            "crm.objects.contacts.write",
            "crm.objects.companies.read",
            "crm.objects.companies.write",
            "crm.schemas.contacts.read",
            "crm.schemas.companies.read",
            "crm.objects.deals.read",
            "crm.objects.deals.write",
            "crm.schemas.deals.read",
            "tickets",
            "crm.objects.owners.read",
        ),
    )
