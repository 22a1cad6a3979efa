"""HubSpot CRM: contacts and companies, with a private-app access token."""

from __future__ import annotations

from connectors.base import Capabilities, Provider
from connectors.providers.hubspot.client import OBJECTS, HubSpotClient, HubSpotConfig


class HubSpotProvider(Provider):
    key = "hubspot"
    label = "HubSpot CRM"
    auth_scheme = "bearer"
    config_model = HubSpotConfig
    credential_fields = ("access_token",)
    objects = dict(OBJECTS)
    capabilities = {
        "contacts": Capabilities(upsert_key="email", batch_size=100),
        "companies": Capabilities(upsert_key="domain", batch_size=100),
    }
    client_class = HubSpotClient
