"""Pipedrive: persons, organizations, deals and activities, with a personal API token."""

from __future__ import annotations

from connectors.base import Capabilities, Provider, RateLimit
from connectors.providers.pipedrive.client import OBJECTS, PipedriveClient, PipedriveConfig


class PipedriveProvider(Provider):
    key = "pipedrive"
    label = "Pipedrive"
    auth_scheme = "api_key"
    config_model = PipedriveConfig
    credential_fields = ("api_token",)
    objects = dict(OBJECTS)
    capabilities = {
        # No batch writes in Pipedrive: the batch size only bounds one run step.
        "persons": Capabilities(upsert_key="email", batch_size=100, delete=True, find=True),
        "organizations": Capabilities(upsert_key="name", batch_size=100, delete=True, find=True),
        # Deals and activities have no natural key: written by id when linked, created otherwise.
        "deals": Capabilities(upsert_key=None, batch_size=100, delete=True, find=True),
        # Activities have no search: looked up by id only, which a lookup step cannot use.
        "activities": Capabilities(upsert_key=None, batch_size=100, delete=True),
    }
    client_class = PipedriveClient
    # Pipedrive counts bursts per token in two-second windows; 20 per window is the smallest plan's
    # allowance (Essential; larger plans get up to 120 - override per connection). A burst of 4 leaves
    # 8 requests a second sustained.
    rate_limit = RateLimit(requests=20, interval_seconds=2, burst=4)
