"""The hub's settings with one URL: a bare Django view that only inserts the body (the webhook yardstick)."""

from integrations_hub.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_urls"
