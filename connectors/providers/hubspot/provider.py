"""HubSpot CRM: contacts, companies, deals, tickets, tasks and custom objects, with a private-app token or
"Connect with HubSpot".

Custom objects are the ones a connection lists in its settings (`custom_objects`, see custom_objects.py).

Also here: associations between records (`HubSpotClient.associations`) and the check of the signature
HubSpot puts on app webhooks (`connectors.providers.hubspot.webhooks.verify_signature`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import Capabilities, ConnectionSettings, OAuthSpec, Provider, RateLimit
from connectors.providers.hubspot.client import OBJECTS, HubSpotClient, HubSpotConfig
from connectors.providers.hubspot.custom_objects import configured_custom_objects, custom_label


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
            "crm.schemas.custom.read",
            "crm.objects.custom.read",
            "crm.objects.custom.write",
        ),
    )

    discover_label = "Discover custom objects"

    @classmethod
    def discover_config(cls, settings: ConnectionSettings) -> dict[str, Any]:
        """Every custom object of the account, keeping the upsert property already chosen for one; else its
        only unique property, if it has exactly one."""
        client = cls.client(settings)
        assert isinstance(client, HubSpotClient)
        chosen = configured_custom_objects(settings.config)
        found: dict[str, str] = {}
        for custom in client.custom_objects():
            name = custom.fully_qualified_name or custom.object_type_id
            previous = chosen.get(name, chosen.get(custom.object_type_id, ""))
            only = custom.unique_properties[0] if len(custom.unique_properties) == 1 else ""
            found[name] = previous if previous in custom.unique_properties else only
        return {"custom_objects": found}

    @classmethod
    def objects_for(cls, config: Mapping[str, Any]) -> dict[str, str]:
        """The standard objects, then the custom objects the connection's settings list."""
        custom = configured_custom_objects(config)
        return {**cls.objects, **{name: custom_label(name) for name in custom}}

    @classmethod
    def capabilities_for(cls, config: Mapping[str, Any], object_name: str) -> Capabilities | None:
        declared = cls.capabilities.get(object_name)
        if declared is not None:
            return declared
        custom = configured_custom_objects(config)
        if object_name not in custom:
            return None
        # Upserts by the unique property named in the settings (else written by id when linked, created
        # otherwise); HubSpot app webhooks cover only the standard objects here.
        return Capabilities(upsert_key=custom[object_name] or None, batch_size=100, delete=True, find=True)
