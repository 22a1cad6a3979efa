"""Zendesk Support: users, organizations and tickets, with an agent email and API token.

Webhook deliveries are checked with `connectors.providers.zendesk.webhooks.verify_signature`.
"""

from __future__ import annotations

from connectors.base import Capabilities, Provider, RateLimit
from connectors.providers.zendesk.client import OBJECTS, ZendeskClient, ZendeskConfig


class ZendeskProvider(Provider):
    key = "zendesk"
    label = "Zendesk Support"
    auth_scheme = "basic"
    config_model = ZendeskConfig
    credential_fields = ("api_token",)
    objects = dict(OBJECTS)
    capabilities = {
        # Deleting a user soft-deletes it: the export then shows it with active = false.
        "users": Capabilities(upsert_key="email", batch_size=100, delete=True, find=True),
        # Zendesk's create-or-update matches organizations on external_id only (names are not a key).
        "organizations": Capabilities(upsert_key="external_id", batch_size=100, delete=True, find=True),
        # Created in bulk (create_many), a linked ticket updated by id (PUT, one each); Zendesk tickets
        # have no key to upsert them by.
        "tickets": Capabilities(upsert_key=None, batch_size=100, webhooks=True, delete=True, find=True),
    }
    client_class = ZendeskClient
    # Zendesk Support's documented account limit for the Professional plan: 400 requests a minute (Team
    # 200, Enterprise 700, the High Volume API add-on 2,500 - override per connection).
    rate_limit = RateLimit(requests=400, interval_seconds=60)
    # The incremental export endpoints (how changes are listed) allow 10 requests a minute on their own.
    path_rate_limits = ((r"^/api/v2/incremental/", RateLimit(requests=10, interval_seconds=60)),)
