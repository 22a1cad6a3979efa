"""Slack: post messages to channels, with a bot token (xoxb-...) or an incoming webhook URL.

Requests Slack sends to the hub (Events API callbacks) are checked with
`connectors.providers.slack.webhooks.verify_signature`.
"""

from __future__ import annotations

from connectors.base import Capabilities, Provider, RateLimit
from connectors.providers.slack.client import OBJECTS, SlackClient, SlackConfig


class SlackProvider(Provider):
    key = "slack"
    label = "Slack"
    auth_scheme = "bearer"
    config_model = SlackConfig
    # One field for either way of connecting, because the connection form requires every field it shows.
    credential_fields = ("bot_token_or_webhook_url",)
    objects = dict(OBJECTS)
    capabilities = {
        # An action target: messages are posted one request each and never read, updated, looked up or
        # deleted (a bot could delete its own messages, but a notification is not a record to manage).
        "messages": Capabilities(
            read=False, incremental=False, update=False, batch_size=50, delete=False, find=False
        ),
    }
    client_class = SlackClient
    # Slack allows about one message per second per channel (chat.postMessage and incoming webhooks),
    # with short bursts. The budget is per connection, so this holds even when every message goes to
    # the same channel: 60 a minute, bursts of 5.
    rate_limit = RateLimit(requests=60, interval_seconds=60, burst=5)
