"""HubSpot CRM: contacts, companies, deals and tickets, with a private-app token or "Connect with HubSpot".

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
    capabilities = {
        "contacts": Capabilities(upsert_key="email", batch_size=100, webhooks=True),
        "companies": Capabilities(upsert_key="domain", batch_size=100, webhooks=True),
        # No natural key: written by id when linked, created (one request each) otherwise.
        "deals": Capabilities(upsert_key=None, batch_size=100, webhooks=True),
        "tickets": Capabilities(upsert_key=None, batch_size=100, webhooks=True),
    }
    client_class = HubSpotClient
    # HubSpot's documented burst limit for the smallest plans: 100 requests per 10 seconds per account
    # (private apps on Free/Starter; OAuth apps get 110, Professional/Enterprise 190 - override per
    # connection). A burst of 10 leaves a sustained 9 requests a second.
    rate_limit = RateLimit(requests=100, interval_seconds=10, burst=10)
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
        ),
    )
