"""Admin API of both sandboxes: health, deterministic reset, records, stats and fault injection."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.sandbox.testing import CRM_TOKEN, SandboxError, SandboxProcess

CRM_AUTH = {"Authorization": f"Bearer {CRM_TOKEN}"}


def test_health(crm_sandbox: SandboxProcess, helpdesk_sandbox: SandboxProcess) -> None:
    crm = crm_sandbox.admin("GET", "/health")
    assert crm["ok"] is True and crm["system"] == "crm"
    # Deals and tickets come from their own generator, linked to the seeded contacts (crm_links.py).
    assert crm["counts"] == {"contacts": 20, "companies": 2, "deals": 6, "tickets": 4, "tasks": 0}
    helpdesk = helpdesk_sandbox.admin("GET", "/_admin/health")
    assert helpdesk["ok"] is True and helpdesk["system"] == "helpdesk"
    assert helpdesk["counts"] == {"users": 0, "organizations": 0, "tickets": 0}


@pytest.mark.parametrize(("fixture", "objects"), [("crm_sandbox", "contacts"), ("helpdesk_sandbox", "users")])
def test_reset_is_deterministic(request: pytest.FixtureRequest, fixture: str, objects: str) -> None:
    sandbox: SandboxProcess = request.getfixturevalue(fixture)
    counts = sandbox.reset(37)
    assert counts["ok"] is True and counts["counts"][objects] == 37
    first = {name: sandbox.records(name) for name in counts["counts"]}
    sandbox.admin("POST", f"/records/{objects}", {"name": "Extra", "properties": {"firstname": "Extra"}})
    sandbox.reset(37)
    second = {name: sandbox.records(name) for name in counts["counts"]}
    assert first == second  # ids, values and timestamps
    sandbox.reset(38)
    assert sandbox.records(objects)[:37] != first[objects]


def test_seed_data_looks_real(crm_sandbox: SandboxProcess) -> None:
    crm_sandbox.reset(300)
    contacts = crm_sandbox.records("contacts")
    assert len(contacts) == 300
    emails = [c["properties"]["email"] for c in contacts]
    assert len(set(emails)) == 300
    assert all("@" in e and e == e.lower() for e in emails)
    names = {c["properties"]["firstname"] for c in contacts}
    assert len(names) > 40
    tiers = {c["properties"]["customer_tier"] for c in contacts}
    assert tiers == {"bronze", "silver", "gold", "platinum"}
    assert any(c["properties"]["nps_score"] is not None for c in contacts)
    assert {c["properties"]["newsletter_opt_in"] for c in contacts} == {"true", "false"}
    companies = crm_sandbox.records("companies")
    assert len(companies) == 37
    company_names = {c["properties"]["name"] for c in companies}
    assert {c["properties"]["company"] for c in contacts} - {None} <= company_names
    assert len({c["properties"]["domain"] for c in companies}) == 37


def test_admin_records_and_unknown_object(crm_sandbox: SandboxProcess) -> None:
    contacts = crm_sandbox.records("contacts")
    # Admin listings carry every property, so tests can compare whole records.
    assert "customer_tier" in contacts[0]["properties"] and "jobtitle" in contacts[0]["properties"]
    with pytest.raises(SandboxError) as err:
        crm_sandbox.records("widgets")
    assert err.value.status == 404


def test_stats_count_requests_by_route_pattern(crm_sandbox: SandboxProcess) -> None:
    for path in ("/crm/v3/objects/contacts", "/crm/v3/objects/companies", "/crm/v3/objects/contacts/101"):
        crm_sandbox.request("GET", path, headers=CRM_AUTH)
    crm_sandbox.request("GET", "/crm/v3/objects/contacts")  # 401
    stats = crm_sandbox.stats()
    assert stats["total"] == 4
    assert stats["requests"] == {"GET /crm/v3/objects/{object}": 3, "GET /crm/v3/objects/{object}/{id}": 1}
    assert stats["statuses"] == {"200": 3, "401": 1}
    crm_sandbox.admin("DELETE", "/stats")
    assert crm_sandbox.stats()["total"] == 0


def test_injected_429_carries_retry_after_then_recovers(crm_sandbox: SandboxProcess) -> None:
    settings = crm_sandbox.set_faults(status=429, fail_next=2, retry_after=3)
    assert settings["fail_next"] == 2
    for _ in range(2):
        status, headers, body = crm_sandbox.request("GET", "/crm/v3/objects/contacts", headers=CRM_AUTH)
        assert status == 429
        assert headers["Retry-After"] == "3"
        assert body["category"] == "RATE_LIMITS"
    # The admin API is never faulted, so tests can always inspect and repair.
    assert crm_sandbox.admin("GET", "/health")["ok"] is True
    status, _, _ = crm_sandbox.request("GET", "/crm/v3/objects/contacts", headers=CRM_AUTH)
    assert status == 200
    assert crm_sandbox.stats()["faults_injected"] == 2


def test_injected_5xx_and_error_rate(helpdesk_sandbox: SandboxProcess) -> None:
    helpdesk_sandbox.set_faults(error_rate=1.0, status=503)
    status, headers, body = helpdesk_sandbox.request("GET", "/api/v2/users.json")
    assert status == 503 and body["error"] == "ServiceUnavailable"
    assert "Retry-After" not in headers
    helpdesk_sandbox.set_faults(error_rate=0.5, status=502, seed=7)
    statuses = [helpdesk_sandbox.request("GET", "/api/v2/users/me.json")[0] for _ in range(40)]
    assert set(statuses) == {401, 502}  # no credentials: the ones that get through are 401
    helpdesk_sandbox.clear_faults()
    assert helpdesk_sandbox.request("GET", "/api/v2/users.json")[0] == 401


def test_injected_latency_and_path_filter(crm_sandbox: SandboxProcess) -> None:
    crm_sandbox.set_faults(latency_ms=150, path_prefix="/crm/v3/objects/companies")
    started = time.monotonic()
    crm_sandbox.request("GET", "/crm/v3/objects/companies", headers=CRM_AUTH)
    slow = time.monotonic() - started
    started = time.monotonic()
    crm_sandbox.request("GET", "/crm/v3/objects/contacts", headers=CRM_AUTH)
    fast = time.monotonic() - started
    assert slow >= 0.15
    assert fast < 0.15


@pytest.mark.parametrize(
    "faults",
    [{"status": 200}, {"error_rate": 2}, {"latency_ms": "slow"}, {"explode": True}, {"seed": "x"}],
)
def test_bad_fault_settings_are_400(crm_sandbox: SandboxProcess, faults: dict[str, Any]) -> None:
    with pytest.raises(SandboxError) as err:
        crm_sandbox.set_faults(**faults)
    assert err.value.status == 400


def test_reset_clears_faults_and_stats(crm_sandbox: SandboxProcess) -> None:
    crm_sandbox.set_faults(status=500, fail_next=5)
    crm_sandbox.request("GET", "/crm/v3/objects/contacts", headers=CRM_AUTH)
    crm_sandbox.reset(3)
    assert crm_sandbox.admin("GET", "/faults")["fail_next"] == 0
    assert crm_sandbox.stats()["total"] == 0
    assert crm_sandbox.request("GET", "/crm/v3/objects/contacts", headers=CRM_AUTH)[0] == 200


def test_unknown_routes(crm_sandbox: SandboxProcess, helpdesk_sandbox: SandboxProcess) -> None:
    status, _, body = crm_sandbox.request("GET", "/crm/v4/whatever", headers=CRM_AUTH)
    assert status == 404 and body["status"] == "error"
    status, headers, _ = crm_sandbox.request("PUT", "/crm/v3/objects/contacts/search", headers=CRM_AUTH)
    assert status == 405 and "POST" in headers["Allow"]
    status, _, body = helpdesk_sandbox.request("GET", "/api/v2/macros.json")
    assert status == 404 and body["error"] == "InvalidEndpoint"
    with pytest.raises(SandboxError):
        crm_sandbox.admin("GET", "/nothing-here")
