"""Zendesk Support: users and organizations, with an agent email and API token."""

from __future__ import annotations

from connectors.base import Capabilities, Provider
from connectors.providers.zendesk.client import OBJECTS, ZendeskClient, ZendeskConfig


class ZendeskProvider(Provider):
    key = "zendesk"
    label = "Zendesk Support"
    auth_scheme = "basic"
    config_model = ZendeskConfig
    credential_fields = ("api_token",)
    objects = dict(OBJECTS)
    capabilities = {
        "users": Capabilities(upsert_key="email", batch_size=100),
        # Zendesk's create-or-update matches organizations on external_id only (names are not a key).
        "organizations": Capabilities(upsert_key="external_id", batch_size=100),
    }
    client_class = ZendeskClient
