"""Mailchimp Marketing: the members of one audience, with an API key (`<key>-<data center>`)."""

from __future__ import annotations

from connectors.base import Capabilities, Provider
from connectors.providers.mailchimp.client import OBJECTS, MailchimpClient, MailchimpConfig


class MailchimpProvider(Provider):
    key = "mailchimp"
    label = "Mailchimp"
    auth_scheme = "basic"
    config_model = MailchimpConfig
    credential_fields = ("api_key",)
    objects = dict(OBJECTS)
    capabilities = {
        # 500 is the batch-subscribe endpoint's limit per call.
        # Looked up by email (its subscriber hash); deleting archives, as Mailchimp's DELETE does.
        "members": Capabilities(upsert_key="email_address", batch_size=500, delete=True, find=True),
    }
    client_class = MailchimpClient
    # Mailchimp documents no per-second budget, only at most 10 simultaneous connections per API key
    # (a 429 past that). The HTTP layer sends one request at a time per client, so no rate is set;
    # throttling, if it happens, is waited out from the 429's Retry-After.
    rate_limit = None
