"""Feasibility: what an object supports and what a flow can honestly promise, from provider metadata only."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import Capabilities, ConnectorClient, Provider, RateLimit
from connectors.feasibility import (
    connection_object_feasibility,
    flow_feasibility,
    object_feasibility,
    plan_feasibility,
    rate_limit_label,
)
from connectors.models import Connection
from connectors.providers.hubspot.provider import HubSpotProvider
from connectors.providers.zendesk.provider import ZendeskProvider
from tests.factories import hubspot_connection, zendesk_connection

# Not a sandbox: feasibility never calls a system, so the connections point nowhere.
NOWHERE = "http://127.0.0.1:9"


class LedgerProvider(Provider):
    """A made-up system with the weaker capabilities the real providers here do not have."""

    key = "ledger"
    label = "Ledger"
    auth_scheme = "none"
    objects = {"entries": "Entries", "events": "Events", "archive": "Archive", "feed": "Feed"}
    capabilities = {
        # Readable only in full, writable only by creating.
        "entries": Capabilities(incremental=False, update=False, upsert_key=None, batch_size=25),
        "events": Capabilities(webhooks=True, upsert_key="event_id", delete=True),
        "archive": Capabilities(read=True, create=False, update=False),
        "feed": Capabilities(read=False, incremental=False),
    }
    client_class = ConnectorClient


@pytest.fixture
def crm(team: Any) -> Connection:
    return hubspot_connection(team=team, base_url=NOWHERE)


@pytest.fixture
def helpdesk(team: Any) -> Connection:
    return zendesk_connection(team=team, base_url=NOWHERE)


def test_hubspot_to_zendesk_by_polling_is_near_real_time_and_points_at_hubspots_webhooks(
    crm: Connection, helpdesk: Connection
) -> None:
    result = flow_feasibility(
        source=(crm, "contacts"), target=(helpdesk, "users"), trigger="poll", interval_seconds=300
    )

    assert result.possible
    assert result.timing == "near-real-time (polling every 5 min)"
    assert result.freshness_seconds == 300
    assert result.warnings == ("CRM Contacts can send webhooks: a webhook trigger would be real-time",)
    assert result.blockers == ()


def test_polling_a_source_without_webhooks_says_so_with_the_interval(
    crm: Connection, helpdesk: Connection
) -> None:
    result = flow_feasibility(
        source=(helpdesk, "users"), target=(crm, "contacts"), trigger="poll", interval_seconds=300
    )

    assert result.possible
    assert result.timing == "near-real-time (polling every 5 min)"
    assert result.warnings == ("no webhooks: polling every 5 min",)


def test_a_webhook_trigger_is_real_time_and_needs_no_source_connection(helpdesk: Connection) -> None:
    result = flow_feasibility(source=None, target=(helpdesk, "users"), trigger="webhook")

    assert result.possible
    assert result.timing == "real-time (webhook)"
    assert result.freshness_seconds == 0
    assert result.warnings == ()


def test_a_webhook_trigger_from_a_system_that_sends_none_says_someone_else_must_call(
    crm: Connection, helpdesk: Connection
) -> None:
    silent = flow_feasibility(source=(helpdesk, "users"), target=(crm, "contacts"), trigger="webhook")
    sending = flow_feasibility(source=(crm, "contacts"), target=(helpdesk, "users"), trigger="webhook")

    assert silent.timing == sending.timing == "real-time (webhook)"
    assert len(silent.warnings) == 1
    assert silent.warnings[0].startswith("Helpdesk Users does not send webhooks by itself")
    assert sending.warnings == ()


def test_the_poll_interval_defaults_to_the_hub_setting(
    crm: Connection, helpdesk: Connection, settings: Any
) -> None:
    settings.HUB_DEFAULT_POLL_SECONDS = 90

    result = flow_feasibility(source=(crm, "contacts"), target=(helpdesk, "users"), trigger="poll")

    assert result.timing == "near-real-time (polling every 90 s)"
    assert result.freshness_seconds == 90


def test_a_schedule_is_batched_and_promises_no_freshness(crm: Connection, helpdesk: Connection) -> None:
    result = flow_feasibility(source=(crm, "contacts"), target=(helpdesk, "users"), trigger="schedule")

    assert (result.timing, result.freshness_seconds, result.possible) == ("batched (schedule)", None, True)


def test_a_source_without_incremental_read_warns_that_every_poll_reads_everything() -> None:
    source = object_feasibility(LedgerProvider, "entries")
    target = object_feasibility(ZendeskProvider, "users")

    result = plan_feasibility(source=source, target=target, trigger="poll", interval_seconds=60)

    assert "source has no incremental read: every poll reads everything" in result.warnings
    assert result.possible


def test_a_source_with_webhooks_polled_anyway_suggests_the_real_time_trigger() -> None:
    source = object_feasibility(LedgerProvider, "events")
    target = object_feasibility(ZendeskProvider, "users")

    result = plan_feasibility(source=source, target=target, trigger="poll", interval_seconds=60)

    assert result.warnings == ("Ledger Events can send webhooks: a webhook trigger would be real-time",)


def test_a_target_that_cannot_upsert_or_update_says_how_records_are_matched_and_what_is_lost() -> None:
    source = object_feasibility(HubSpotProvider, "contacts")
    target = object_feasibility(LedgerProvider, "entries")

    result = plan_feasibility(source=source, target=target, trigger="manual")

    assert result.possible
    assert result.timing == "manual (run now)"
    assert any(
        w.startswith("target cannot upsert: records are matched by link only") for w in result.warnings
    )
    assert any(w.startswith("target cannot update") for w in result.warnings)


def test_a_target_that_cannot_be_written_or_a_source_that_cannot_be_read_blocks_the_flow() -> None:
    unwritable = plan_feasibility(
        source=object_feasibility(HubSpotProvider, "contacts"),
        target=object_feasibility(LedgerProvider, "archive"),
        trigger="poll",
    )
    unreadable = plan_feasibility(
        source=object_feasibility(LedgerProvider, "feed"),
        target=object_feasibility(ZendeskProvider, "users"),
        trigger="poll",
    )

    assert not unwritable.possible
    assert unwritable.blockers == ("Ledger Archive cannot be written, so it cannot be a target",)
    assert not unreadable.possible
    assert unreadable.blockers == ("Ledger Feed cannot be read, so it cannot be a source",)


def test_a_poll_without_a_source_or_with_an_unknown_object_is_blocked(helpdesk: Connection) -> None:
    no_source = flow_feasibility(source=None, target=(helpdesk, "users"), trigger="poll")
    unknown = flow_feasibility(source=None, target=(helpdesk, "widgets"), trigger="webhook")

    assert not no_source.possible and "choose one" in no_source.blockers[0]
    assert not unknown.possible and unknown.blockers == ("Helpdesk has no object 'widgets'",)


def test_an_unknown_trigger_is_refused(crm: Connection, helpdesk: Connection) -> None:
    with pytest.raises(ValueError, match="unknown trigger"):
        flow_feasibility(source=(crm, "contacts"), target=(helpdesk, "users"), trigger="telepathy")


def test_an_object_lists_what_it_supports_with_its_upsert_key_and_documented_rate_limit(
    crm: Connection,
) -> None:
    contacts = connection_object_feasibility(connection=crm, object_name="contacts")

    supports = {s.label: (s.supported, s.detail) for s in contacts.supports}
    assert supports["Read"] == (True, "")
    assert supports["Incremental read"][0] is True
    assert supports["Webhooks"] == (True, "real-time")
    assert supports["Upsert"] == (True, "matched by email")
    assert supports["Delete"] == (True, "")  # HubSpot archives; the client implements it
    assert supports["Batch size"] == (True, "100 records per request")
    assert supports["Rate limit"] == (True, "100 requests per 10 s")
    assert contacts.name == "CRM Contacts"


def test_a_connections_own_rate_limit_replaces_the_documented_one(crm: Connection) -> None:
    crm.rate_limit_override = {"requests": 190, "interval_seconds": 10, "burst": 10}

    contacts = connection_object_feasibility(connection=crm, object_name="contacts")

    assert contacts.rate_limit_label == "190 requests per 10 s"


def test_rate_limit_labels_read_naturally() -> None:
    assert rate_limit_label(None) == "no documented limit"
    assert (
        rate_limit_label(RateLimit(requests=700, interval_seconds=60, burst=10)) == "700 requests per minute"
    )
    assert rate_limit_label(RateLimit(requests=10, interval_seconds=1, burst=2)) == "10 requests per second"
    assert rate_limit_label(RateLimit(requests=10, interval_seconds=2.5, burst=2)) == "10 requests per 2.5 s"


def test_an_object_without_declared_capabilities_assumes_the_defaults_and_says_so() -> None:
    class TableProvider(Provider):
        key = "table"
        label = "Table"
        auth_scheme = "none"
        client_class = ConnectorClient

    orders = object_feasibility(TableProvider, "orders")
    result = plan_feasibility(source=orders, target=orders, trigger="poll", interval_seconds=60)

    assert not orders.declared and orders.known_object
    assert result.possible
    assert sum("does not declare what it supports" in w for w in result.warnings) == 2
