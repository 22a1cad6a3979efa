"""The SSRF corpus, tried on every place a user can type a URL.

Each place refuses loopback (in every spelling the resolver accepts: decimal, octal, hex, short forms,
IPv6 and IPv4-mapped IPv6), private, link-local and cloud-metadata addresses. A place refuses either
when the URL is typed (a form error next to the field) or when it is used (the HTTP layer's guard,
connectors/http.py, raises before a socket is opened); each test says which, and every test checks
that no connection was attempted at all.

| place                                         | refused at                         |
| --------------------------------------------- | ---------------------------------- |
| connection form: any base URL / endpoint URL  | validation (next to the field)     |
| connection form: a manifest's base_url        | validation (next to the manifest)  |
| connection base URLs set over the API/service | send time (test, read, write)      |
| Slack incoming webhook URL (a secret)         | send time                          |
| team alert URLs (workflow and sync alerts)    | send time (the alert is not sent)  |
| workflow HTTP step, webhook step              | send time (the record fails)       |
| an HTTP step's host taken from a record       | validation (the workflow is not saved) |
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from connectors.base import WriteItem
from connectors.http import BlockedDestinationError, HttpClient
from connectors.models import Connection
from connectors.services import client_for, connection_create, connection_test
from connectors.webhooks import generate_secret
from tests.factories import hubspot_connection, zendesk_connection
from workflows.models import Incident, RunRecord, Workflow
from workflows.services.alerts import incident_notify
from workflows.services.webhooks import webhook_process
from workflows.services.workflow import WorkflowInputError, workflow_create
from workflows.sync.models import Sync, SyncIncident
from workflows.sync.services.alerts import sync_incident_notify

# Host spellings, as they appear in a URL's authority.
CORPUS: dict[str, str] = {
    "loopback": "127.0.0.1",
    "loopback-other": "127.0.0.2",
    "localhost": "localhost",
    "localhost-subdomain": "api.localhost",
    "loopback-decimal": "2130706433",
    "loopback-octal": "0177.0.0.1",
    "loopback-octal-whole": "017700000001",
    "loopback-hex": "0x7f000001",
    "loopback-short": "127.1",
    "loopback-ipv6": "[::1]",
    "ipv4-mapped-ipv6": "[::ffff:127.0.0.1]",
    "ipv4-mapped-ipv6-hex": "[::ffff:7f00:1]",
    "private-10": "10.0.0.7",
    "private-172": "172.16.5.4",
    "private-192": "192.168.1.1",
    "private-ipv6": "[fd12:3456::1]",
    "link-local": "169.254.10.20",
    "link-local-ipv6": "[fe80::1]",
    "metadata": "169.254.169.254",
    "metadata-decimal": "2852039166",
    "unspecified": "0.0.0.0",  # noqa: S104 - a destination to refuse, not a bind
}
HOSTS = list(CORPUS.values())
IDS = list(CORPUS)
# At send time a name is judged by what it resolves to, and whether *.localhost resolves depends on the
# machine's resolver (it does not here, so nothing could be reached anyway): those tests use the rest.
SENT = {name: host for name, host in CORPUS.items() if name != "localhost-subdomain"}
SENT_HOSTS = list(SENT.values())
SENT_IDS = list(SENT)
# Django's URLValidator (the team alert fields) accepts IPv4 hosts only as dotted quads.
URL_VALIDATOR_REFUSES = {"2130706433", "0177.0.0.1", "017700000001", "0x7f000001", "127.1", "2852039166"}


class ConnectionAttempted(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _no_private_hosts(settings: Any) -> None:
    # Production has no allow-list; the test settings allow the loopback sandboxes, so remove that here.
    settings.HUB_HTTP_ALLOWED_PRIVATE_HOSTS = []
    settings.HUB_HTTP_MAX_RETRIES = 0


@pytest.fixture(autouse=True)
def attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every outbound socket connect, recorded and stopped (so a guard that failed cannot reach anything)."""
    seen: list[Any] = []

    def connect(self: socket.socket, address: Any) -> None:
        seen.append(address)
        raise ConnectionAttempted(f"a connection to {address!r} was attempted")

    def connect_ex(self: socket.socket, address: Any) -> int:
        seen.append(address)
        return 111

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield seen
    assert seen == [], f"connections were attempted: {seen}"


def test_the_spy_sees_a_connection_to_an_allowed_host(settings: Any, attempts: list[Any]) -> None:
    """The control: with the host allowed, the same request does reach the socket layer."""
    settings.HUB_HTTP_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1"]
    client = HttpClient("http://127.0.0.1:9", max_retries=0)
    with pytest.raises(ConnectionAttempted):
        client.get("/")
    assert attempts and attempts[0][0] == "127.0.0.1"
    attempts.clear()


# -- the connection form: refused when typed ----------------------------------------------------------

FORM_CASES: dict[str, tuple[str, dict[str, str]]] = {
    # kind: (URL field, the other fields the form needs)
    "hubspot": ("base_url", {"access_token": "pat-1"}),
    "zendesk": ("base_url", {"email": "agent@example.com", "api_token": "t"}),
    "stripe": ("base_url", {"secret_key": "sk_test_1"}),
    "pipedrive": ("base_url", {"api_token": "t"}),
    "mailchimp": ("base_url", {"list_id": "l1", "api_key": "k-us1"}),
    "slack": ("base_url", {"bot_token_or_webhook_url": "xoxb-1"}),
    "webhook_out": ("base_url", {"signing_secret": generate_secret()}),
    "rest_manifest": (
        "base_url",
        {
            "manifest": json.dumps(
                {
                    "name": "Shop",
                    "base_url": "https://shop.example.com",
                    "objects": {"orders": {"list": {"path": "/orders", "record_path": "orders"}}},
                }
            )
        },
    ),
}


def _manifest(base_url: str) -> str:
    return json.dumps(
        {
            "name": "Shop",
            "base_url": base_url,
            "auth": {"type": "bearer", "token_secret": "token"},
            "objects": {"orders": {"list": {"path": "/orders", "record_path": "orders"}}},
        }
    )


@pytest.mark.parametrize("kind", list(FORM_CASES))
@pytest.mark.parametrize("host", HOSTS, ids=IDS)
def test_the_connection_form_refuses_an_inward_url_next_to_the_field(
    editor_client: Client, kind: str, host: str
) -> None:
    field, others = FORM_CASES[kind]
    url = f"http://{host}:8080/api"

    response = editor_client.post(
        f"{reverse('connection_new')}?kind={kind}", {"kind": kind, "name": "Inward", field: url, **others}
    )

    assert response.status_code == 200
    errors = [str(e) for e in response.context["form"].errors.get(field, [])]
    assert len(errors) == 1 and "which connections may not reach" in errors[0], errors
    assert not Connection.objects.exists()


@pytest.mark.parametrize("host", HOSTS, ids=IDS)
def test_the_connection_form_refuses_a_manifest_whose_base_url_points_inward(
    editor_client: Client, host: str
) -> None:
    response = editor_client.post(
        f"{reverse('connection_new')}?kind=rest_manifest",
        {
            "kind": "rest_manifest",
            "name": "Inward",
            "manifest": _manifest(f"http://{host}/api"),
            "secret__token": "t",
        },
    )

    errors = [str(e) for e in response.context["form"].errors.get("manifest", [])]
    assert len(errors) == 1 and errors[0].startswith("base_url: This URL points at a"), errors
    assert not Connection.objects.exists()


# -- connection URLs set without the form: refused when used ------------------------------------------


def _connection(team: Any, kind: str, url: str) -> Connection:
    configs: dict[str, tuple[dict[str, str], dict[str, str]]] = {
        "hubspot": ({"base_url": url}, {"access_token": "pat-1"}),
        "zendesk": ({"base_url": url, "email": "agent@example.com"}, {"api_token": "t"}),
        "stripe": ({"base_url": url}, {"secret_key": "sk_test_1"}),
        "pipedrive": ({"base_url": url}, {"api_token": "t"}),
        "mailchimp": ({"base_url": url, "list_id": "l1"}, {"api_key": "k-us1"}),
        "slack": ({"base_url": url}, {"bot_token_or_webhook_url": "xoxb-1"}),
        "webhook_out": ({"base_url": url}, {"signing_secret": generate_secret()}),
        "rest_manifest": ({"manifest": _manifest(url)}, {"token": "t"}),
        "rest_manifest_override": (
            {"manifest": _manifest("https://shop.example.com"), "base_url": url},
            {"token": "t"},
        ),
    }
    config, secrets = configs[kind]
    return connection_create(
        team=team, name=kind, kind=kind.removesuffix("_override"), config=config, credentials=secrets
    )


SEND_KINDS = [
    "hubspot",
    "zendesk",
    "stripe",
    "pipedrive",
    "mailchimp",
    "slack",
    "webhook_out",
    "rest_manifest",
    "rest_manifest_override",
]


@pytest.mark.parametrize("kind", SEND_KINDS)
@pytest.mark.parametrize("host", SENT_HOSTS, ids=SENT_IDS)
def test_a_connection_url_set_without_the_form_is_refused_when_the_connection_is_used(
    team: Any, kind: str, host: str
) -> None:
    connection = _connection(team, kind, f"http://{host}:8080/api")

    result = connection_test(connection=connection)

    assert not result.ok
    assert "Refusing" in result.message, result.message
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ERROR


@pytest.mark.parametrize("host", ["2130706433", "[::ffff:127.0.0.1]", "169.254.169.254", "10.0.0.7"])
def test_writes_through_an_inward_connection_are_refused_too(team: Any, host: str) -> None:
    connection = _connection(team, "webhook_out", f"http://{host}/hooks")

    with pytest.raises(BlockedDestinationError):
        client_for(connection).upsert_batch("events", [WriteItem(key="1", fields={"a": 1})], match_field="")


# -- the Slack incoming webhook URL (typed as the connection's secret) ---------------------------------


@pytest.mark.parametrize("host", SENT_HOSTS, ids=SENT_IDS)
def test_a_slack_incoming_webhook_url_pointing_inward_is_refused_when_used(team: Any, host: str) -> None:
    connection = connection_create(
        team=team,
        name="Chat",
        kind="slack",
        config={},
        credentials={"bot_token_or_webhook_url": f"http://{host}/services/T000/B000/secretpart"},
    )

    result = connection_test(connection=connection)

    assert not result.ok and "Refusing" in result.message, result.message
    assert "secretpart" not in result.message


# -- team alert URLs -------------------------------------------------------------------------------


@pytest.fixture
def incident(team: Any) -> Incident:
    crm = hubspot_connection(team=team, base_url="https://api.hubapi.com")
    workflow = workflow_create(
        team=team,
        name="Leads",
        source_connection=None,
        source_object="",
        target_connection=crm,
        target_object="contacts",
        mapping={"fields": [{"target": "email", "source": "email"}]},
        trigger=Workflow.Trigger.WEBHOOK,
    )
    return Incident.objects.create(workflow=workflow, kind=Incident.Kind.FAILING, message="Target down")


@pytest.mark.parametrize("field", ["alert_chat_url", "alert_webhook_url"])
@pytest.mark.parametrize("host", SENT_HOSTS, ids=SENT_IDS)
def test_a_team_alert_url_pointing_inward_is_refused_when_the_alert_is_sent(
    team: Any, incident: Incident, field: str, host: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://{host}/alerts"
    setattr(team, field, url)
    team.alert_email = False
    # The field is a plain URLField, typed in the admin: its validation refuses only the numeric spellings
    # that are not dotted quads. Saved anyway (as an import or the shell could), the guard holds at send.
    if host in URL_VALIDATOR_REFUSES:
        with pytest.raises(ValidationError):
            team.full_clean()
    else:
        team.full_clean()
    team.save()

    with caplog.at_level(logging.WARNING, logger="workflows.services.alerts"):
        incident_notify(incident_id=incident.pk)

    refused = [r.getMessage() for r in caplog.records if "could not deliver the alert" in r.getMessage()]
    assert len(refused) == 1 and "Refusing" in refused[0], refused


@pytest.fixture
def sync_incident(team: Any) -> SyncIncident:
    crm = hubspot_connection(team=team, base_url="https://api.hubapi.com")
    desk = zendesk_connection(team=team, base_url="https://acme.zendesk.com")
    sync = Sync.objects.create(
        team=team, name="Two-way", a_connection=crm, a_object="contacts", b_connection=desk, b_object="users"
    )
    return SyncIncident.objects.create(sync=sync, kind=SyncIncident.Kind.FAILING, message="Runs fail")


@pytest.mark.parametrize("field", ["alert_chat_url", "alert_webhook_url"])
@pytest.mark.parametrize("host", SENT_HOSTS, ids=SENT_IDS)
def test_a_team_alert_url_pointing_inward_is_refused_when_a_sync_alert_is_sent(
    team: Any, sync_incident: SyncIncident, field: str, host: str, caplog: pytest.LogCaptureFixture
) -> None:
    setattr(team, field, f"http://{host}/alerts")
    team.alert_email = False
    team.save()

    with caplog.at_level(logging.WARNING, logger="workflows.sync.services.alerts"):
        sync_incident_notify(incident_id=sync_incident.pk)

    refused = [r.getMessage() for r in caplog.records if "could not deliver the alert" in r.getMessage()]
    assert len(refused) == 1 and "Refusing" in refused[0], refused


# -- workflow HTTP and webhook steps ---------------------------------------------------------------


def _step_workflow(team: Any, step: dict[str, Any]) -> Workflow:
    crm = hubspot_connection(team=team, base_url="https://api.hubapi.com")
    return workflow_create(
        team=team,
        name=f"Steps {step['type']}",
        source_connection=None,
        source_object="",
        target_connection=crm,
        target_object="contacts",
        mapping={},
        trigger=Workflow.Trigger.WEBHOOK,
        steps=[step],
        enabled=True,
    )


def _run_one(workflow: Workflow, body: dict[str, Any]) -> RunRecord:
    response = Client().post(
        f"/hooks/{workflow.webhook_token}", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 202, response.content
    webhook_process(workflow_id=workflow.pk)
    return RunRecord.objects.get(run__workflow=workflow)


@pytest.mark.parametrize("host", SENT_HOSTS, ids=SENT_IDS)
def test_an_http_step_to_an_inward_url_fails_its_record_when_sent(team: Any, host: str) -> None:
    workflow = _step_workflow(
        team, {"type": "http", "id": "call", "method": "POST", "url": f"http://{host}/internal/admin"}
    )

    record = _run_one(workflow, {"id": "r1", "email": "a@example.com"})

    assert record.outcome == RunRecord.Outcome.FAILED
    assert "failed: Refusing" in record.error, record.error


@pytest.mark.parametrize("url", ["http://{target}/latest/meta-data", "http://{a}.{b}/x", "http://x{a}/"])
def test_an_http_step_cannot_take_its_host_from_the_record(team: Any, url: str) -> None:
    """Refused when the workflow is saved: a record could otherwise name 169.254.169.254 as the host."""
    with pytest.raises(WorkflowInputError) as refused:
        _step_workflow(team, {"type": "http", "id": "call", "method": "GET", "url": url})

    assert "fields can only be used in the url after the host name" in str(refused.value)


@pytest.mark.parametrize("host", SENT_HOSTS, ids=SENT_IDS)
def test_a_webhook_step_to_an_inward_url_fails_its_record_when_sent(team: Any, host: str) -> None:
    workflow = _step_workflow(
        team, {"type": "webhook", "id": "notify", "url": f"http://{host}/hooks", "event": "lead.created"}
    )

    record = _run_one(workflow, {"id": "r1", "email": "a@example.com"})

    assert record.outcome == RunRecord.Outcome.FAILED
    assert "couldn't deliver the webhook: Refusing" in record.error, record.error
