"""Zendesk Support: users, organizations and tickets, with an agent email and API token.

Webhook deliveries are checked with `connectors.providers.zendesk.webhooks.verify_signature`.
"""

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
        # Read and created in bulk (create_many); Zendesk tickets have no key to upsert them by.
        "tickets": Capabilities(update=False, upsert_key=None, batch_size=100, webhooks=True),
    }
    client_class = ZendeskClient
