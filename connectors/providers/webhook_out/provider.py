"""Outbound webhook: a target that POSTs one Standard Webhooks-signed JSON event per record."""

from __future__ import annotations

from connectors.base import Capabilities, Provider
from connectors.providers.webhook_out.client import OBJECTS, WebhookOutClient, WebhookOutConfig


class WebhookOutProvider(Provider):
    key = "webhook_out"
    label = "Outbound webhook"
    auth_scheme = "none"
    config_model = WebhookOutConfig
    # The whsec_ secret the receiver verifies signatures with (see connectors.webhooks.generate_secret).
    credential_fields = ("signing_secret",)
    objects = dict(OBJECTS)
    capabilities = {
        # One request per event, so the batch size only bounds how much one run step sends.
        "events": Capabilities(read=False, incremental=False, batch_size=50),
    }
    client_class = WebhookOutClient
