"""Maps connector kinds to their provider classes, imported lazily so adding a kind never touches the core."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from connectors.base import Provider

PROVIDERS: dict[str, str] = {
    "hubspot": "connectors.providers.hubspot.provider.HubSpotProvider",
    "zendesk": "connectors.providers.zendesk.provider.ZendeskProvider",
    "rest_manifest": "connectors.providers.rest_manifest.provider.RestManifestProvider",
    "postgres_table": "connectors.providers.postgres_table.provider.PostgresTableProvider",
    "csv_file": "connectors.providers.csv_file.provider.CsvFileProvider",
    "webhook_out": "connectors.providers.webhook_out.provider.WebhookOutProvider",
    "stripe": "connectors.providers.stripe.provider.StripeProvider",
    "pipedrive": "connectors.providers.pipedrive.provider.PipedriveProvider",
    "mailchimp": "connectors.providers.mailchimp.provider.MailchimpProvider",
    "slack": "connectors.providers.slack.provider.SlackProvider",
}


class UnknownConnector(LookupError):
    pass


@cache
def get_provider(kind: str) -> type[Provider]:
    try:
        dotted = PROVIDERS[kind]
    except KeyError:
        raise UnknownConnector(
            f"No connector of kind {kind!r}; known kinds: {', '.join(sorted(PROVIDERS))}"
        ) from None
    module_name, _, attr = dotted.rpartition(".")
    provider: type[Provider] = getattr(import_module(module_name), attr)
    return provider


def choices() -> list[tuple[str, str]]:
    return [(kind, get_provider(kind).label) for kind in PROVIDERS]
