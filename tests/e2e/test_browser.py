"""The pages in a real browser: Debian's Chromium driven by Playwright against a live server.

One browser for the whole module (a fresh context per test, which is cheap); every test fails on any
JavaScript error or console error, and checks that each control it meets has a label. Screenshots of the
main pages go to test-artifacts/screenshots/ (the best are copied to docs/screenshots/ by hand).

The live server shares the test's database. With SQLite in memory the two threads share one connection,
so the test never queries while the page is talking to the server: when a run executes in the test thread
(standing in for the Celery worker) the page's polling requests are held at a gate until it is done.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.urls import NoReverseMatch, reverse

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "pw-for-tests"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]

# Every form control on a page must have an accessible name (a <label>, aria-label or aria-labelledby).
UNLABELLED = """
() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.innerText.trim()))
  .map(el => el.outerHTML.slice(0, 120))
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, so Django would take the test's own ORM
    # calls (plain synchronous calls between browser steps) for calls from async code. Set only while the
    # browser runs: a subprocess started by a later test (manage.py check --deploy) must not inherit it.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _launch(sync_playwright)
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _launch(sync_playwright: Any) -> Iterator[Any]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield instance
        instance.close()


class Browser:
    """One page with its console watched, and helpers that wait for the server, not for the clock."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
            ),
        )
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        # The console only says "a resource failed"; the response says which one.
        page.on(
            "response",
            lambda r: (
                self.errors.append(f"HTTP {r.status} {r.request.method} {r.url}") if r.status >= 400 else None
            ),
        )
        page.set_default_timeout(15_000)

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.check_labels()

    def login(self, username: str) -> None:
        self.go(reverse("login"))
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name=re.compile("log in", re.I)).click()
        self.page.wait_for_url(self.base + reverse("dashboard"))

    def settle(self) -> None:
        """Wait until htmx has no request in flight and nothing is being swapped."""
        self.page.wait_for_function(
            "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')"
        )
        self.page.wait_for_load_state("networkidle")

    def choose(self, label: str, value: str) -> None:
        self.page.get_by_label(label, exact=True).select_option(value)
        self.settle()

    def check_labels(self) -> None:
        unlabelled = self.page.evaluate(UNLABELLED)
        assert not unlabelled, f"controls without a label on {self.page.url}: {unlabelled}"

    def shot(self, name: str, *, full_page: bool = True) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        # A full-page capture would paint the sticky save bar over the middle of the page.
        self.page.add_style_tag(content=".save-bar { position: static !important; }")
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


@pytest.fixture
def web(browser: Any, live_server: Any, transactional_db: None) -> Iterator[Browser]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    session = Browser(page, live_server.url)
    yield session
    context.close()
    assert not session.errors, "\n".join(session.errors)


@pytest.fixture
def cast(transactional_db: None) -> dict[str, Any]:
    from tests.factories import TeamFactory, member

    team = TeamFactory(name="Acme")
    return {
        "team": team,
        "editor": member(team=team, username="erin-editor", role="editor"),
        "admin": member(team=team, username="ada-admin", role="admin"),
    }


def _review_queue_url() -> str:
    for name in ("sync:review_queue", "review_queue"):
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return ""


def test_an_editor_builds_tests_publishes_and_runs_a_workflow(
    web: Browser, cast: dict[str, Any], crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    from tests.factories import hubspot_connection
    from workflows.models import Run, Workflow
    from workflows.services.runs import run_execute

    hubspot_connection(team=cast["team"], base_url=crm_sandbox.url)
    page = web.page
    web.login("erin-editor")
    web.shot("dashboard-empty")

    # A connection, added through its form (the CRM one exists already).
    web.go(reverse("connection_new"))
    page.get_by_role("link", name="Zendesk Support").click()
    page.get_by_label("Name").fill("Helpdesk")
    page.get_by_label("Base url").fill(helpdesk_sandbox.url)
    page.get_by_label("Email").fill("agent@demo.example")
    page.get_by_label("Api token").fill("demo-helpdesk-token")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Connection saved.").wait_for()
    web.go(reverse("connection_list"))
    web.shot("connections")

    # The builder, step by step.
    web.go(reverse("dashboard"))
    page.get_by_role("link", name="New workflow").click()
    web.check_labels()
    page.get_by_label("Name", exact=True).fill("Contacts to users")
    page.locator("#f-source-connection").select_option(label="CRM (hubspot)")
    web.settle()
    page.locator("#f-source-object").select_option("contacts")
    web.settle()
    page.locator("#f-target-connection").select_option(label="Helpdesk (zendesk)")
    web.settle()
    page.locator("#f-target-object").select_option("users")
    web.settle()
    assert "near-real-time (polling every 5 min)" in page.locator("#feasibility").inner_text()
    assert "no webhooks" not in page.locator("#feasibility").inner_text()  # HubSpot contacts send webhooks

    # Suggestions pair fields by name and label; the tier picklist comes with its value map.
    page.get_by_role("button", name="Suggest matching fields").click()
    web.settle()
    assert page.locator("#mapping-section").get_by_text("suggested: same name").count() >= 3
    tier = page.locator("fieldset.map-row", has=page.locator("option[value='customer_tier'][selected]"))
    assert tier.locator("input[name$='-from']").evaluate_all("els => els.map(e => e.value)") == [
        "bronze",
        "silver",
        "gold",
        "platinum",
    ]
    tier.get_by_label("To value for platinum").fill("gold")

    # A row made by hand, from the keyboard: full name from two fields, joined.
    page.get_by_role("button", name="Add a field").focus()
    page.keyboard.press("Enter")
    web.settle()
    row = page.locator("fieldset.map-row").last
    row.get_by_label("From").select_option("firstname")
    web.settle()
    row = page.locator("fieldset.map-row").last
    row.get_by_role("button", name="+ another source field").click()
    web.settle()
    row = page.locator("fieldset.map-row").last
    row.get_by_label("and").select_option("lastname")
    web.settle()
    row = page.locator("fieldset.map-row").last
    row.get_by_label("Transform").select_option("join")
    web.settle()
    row = page.locator("fieldset.map-row").last
    row.get_by_label("To", exact=True).select_option("name")
    web.settle()
    web.check_labels()

    # A test on a real record from the CRM: the mapped output and every warning, nothing written.
    page.get_by_role("button", name="Fetch a record from CRM").click()
    web.settle()
    result = page.locator("#preview-result")
    assert "Would write" in result.inner_text()
    assert page.locator("#f-sample").input_value().startswith("{")
    web.shot("builder")

    page.get_by_role("button", name="Save and publish").click()
    page.get_by_text("Saved and published version 1.").wait_for()
    workflow = Workflow.objects.get(name="Contacts to users")
    tier_row = next(r for r in workflow.mapping["fields"] if r["target"] == "user_fields.customer_tier")
    assert tier_row["transforms"][0]["args"]["map"]["platinum"] == "gold"
    assert {
        "target": "name",
        "source": ["firstname", "lastname"],
        "transforms": [{"name": "join"}],
    } in workflow.mapping["fields"]

    # Run it and watch it finish. The test is the worker: the page's polls wait at a gate meanwhile.
    page.get_by_role("link", name="Overview").click()
    web.shot("workflow-detail")
    page.get_by_role("button", name="Run now").click()
    page.locator(".progress progress").first.wait_for()
    assert "waiting for a worker" in page.locator("#run-summary").inner_text()
    web.shot("run-queued", full_page=False)
    held: list[Any] = []
    gate = {"open": True}
    page.route("**/runs/*/status/", lambda route: route.continue_() if gate["open"] else held.append(route))
    gate["open"] = False
    page.wait_for_timeout(300)  # polls already let through finish before the test touches the database
    run = Run.objects.get(workflow=workflow)
    run_execute(run_id=run.pk)
    gate["open"] = True
    for route in held:
        route.continue_()
    page.get_by_text("Finished: 20 records read").wait_for()
    assert "Succeeded" in page.locator("#run-summary").inner_text()
    # The record log fills in by itself once the run is done.
    page.wait_for_function("() => document.querySelectorAll('#run-records tbody tr').length === 20")
    web.shot("run-detail")

    # The per-record log: filter to one record by its key and see what was written.
    key = page.locator("#run-records tbody tr td").nth(1).inner_text()
    page.get_by_label("Record key or source id").press_sequentially(key)
    page.wait_for_function("() => document.querySelectorAll('#run-records tbody tr').length === 1")
    assert "Created" in page.locator("#run-records tbody tr").inner_text()

    # The run list finds the run by that record key.
    web.go(reverse("run_list"))
    page.get_by_label("Record key").fill(key)
    page.wait_for_url(re.compile(r"q="))
    web.settle()
    assert page.locator("#run-table tbody tr").count() == 1
    web.shot("runs")

    web.go(reverse("workflow_health", args=[workflow.pk]))
    assert "20 records linked to 20 target records" in page.locator("main").inner_text()
    web.shot("health-workflow")
    web.go(reverse("connection_health", args=[workflow.source_connection_id]))
    web.shot("health-connection")
    web.go(reverse("workflow_templates"))
    web.shot("templates")


def _open_conflict(team: Any) -> Any:
    """One open conflict, made directly in the tables the two-way sync keeps (no sync has to run)."""
    from tests.factories import hubspot_connection, zendesk_connection
    from workflows.sync.models import Sync, SyncConflict, SyncLink

    sync = Sync.objects.create(
        team=team,
        name="Contacts and users",
        a_connection=hubspot_connection(team=team, base_url="http://127.0.0.1:9"),
        a_object="contacts",
        b_connection=zendesk_connection(team=team, base_url="http://127.0.0.1:9"),
        b_object="users",
    )
    link = SyncLink.objects.create(sync=sync, a_id="101", b_id="10001")
    return SyncConflict.objects.create(
        sync=sync,
        link=link,
        pair_key="phone",
        a_field="phone",
        b_field="phone",
        a_value="+1 555 0100",
        b_value="+1 555 0199",
    )


def test_admins_resolve_conflicts_in_the_review_queue_and_editors_cannot_reach_it(
    web: Browser, cast: dict[str, Any]
) -> None:
    url = _review_queue_url()
    page = web.page
    web.login("ada-admin")
    nav = page.get_by_role("navigation", name="Main")
    if not url:
        # The two-way-sync review queue is not built yet: the nav must not link a page that is not there.
        assert nav.get_by_role("link", name="Review queue").count() == 0
        return
    conflict = _open_conflict(cast["team"])
    nav.get_by_role("link", name="Review queue").click()
    web.check_labels()
    web.shot("review-queue")
    row = page.locator(f"#conflict-{conflict.pk}")
    row.get_by_role("button", name="Keep A").click()
    web.settle()
    assert "Keep A's value" in page.locator(f"#conflict-{conflict.pk}").inner_text()
    page.get_by_role("button", name="Log out").click()

    web.login("erin-editor")
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Review queue").count() == 0
    response = page.goto(web.base + url)
    assert response is not None and response.status == 403
    # Django's 403 page is expected here; the browser logs the status as a console error, which is not a bug.
    web.errors = [e for e in web.errors if "403" not in e]


def test_the_builder_fits_a_phone_and_templates_name_the_missing_connection(
    browser: Any, live_server: Any, cast: dict[str, Any]
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    web = Browser(context.new_page(), live_server.url)
    try:
        web.login("erin-editor")
        web.go(reverse("workflow_new") + "?template=hubspot-contacts-zendesk-users")
        assert "Add a HubSpot CRM connection" in web.page.locator("main").inner_text()
        overflow = web.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the builder scrolls sideways by {overflow}px on a phone"
        web.shot("builder-phone", full_page=False)
        web.page.locator("#s-mapping fieldset.map-row").nth(5).scroll_into_view_if_needed()
        web.shot("builder-phone-mapping", full_page=False)
    finally:
        context.close()
    assert not web.errors, "\n".join(web.errors)


def test_an_editor_builds_a_multi_step_workflow_in_the_step_editor_from_the_keyboard(
    web: Browser, cast: dict[str, Any]
) -> None:
    from connectors.base import FieldSchema, ObjectSchema
    from connectors.services import connection_create
    from tests.factories import hubspot_connection, zendesk_connection
    from tests.pages.conftest import CONTACTS, USERS, cache_schema
    from workflows.models import Workflow

    # Cached schemas: the step editor never asks a system (port 9 would refuse it).
    crm = hubspot_connection(team=cast["team"], base_url="http://127.0.0.1:9")
    desk = zendesk_connection(team=cast["team"], base_url="http://127.0.0.1:9")
    chat = connection_create(
        team=cast["team"],
        name="Team chat",
        kind="slack",
        config={"base_url": "http://127.0.0.1:9"},
        credentials={"bot_token_or_webhook_url": "xoxb-test"},
    )
    cache_schema(crm, CONTACTS)
    cache_schema(desk, USERS)
    organizations = (
        FieldSchema("name", "Name", "string"),
        FieldSchema("external_id", "External ID", "string"),
    )
    cache_schema(desk, ObjectSchema("organizations", "Organizations", organizations))
    page = web.page

    def press(button: Any) -> None:
        button.focus()
        page.keyboard.press("Enter")
        web.settle()

    def focused() -> str:
        return str(page.evaluate("() => document.activeElement && document.activeElement.id"))

    web.login("erin-editor")
    web.go(reverse("workflow_new"))
    page.get_by_label("Name", exact=True).fill("Contacts with their organization")
    page.locator("#f-source-connection").select_option(label="CRM (hubspot)")
    web.settle()
    page.locator("#f-source-object").select_option("contacts")
    web.settle()
    page.locator("#f-target-connection").select_option(label="Helpdesk (zendesk)")
    web.settle()
    page.locator("#f-target-object").select_option("users")
    web.settle()

    # The single mapping becomes a list of steps: one write, with its own mapping lines.
    press(page.get_by_role("button", name="Turn this mapping into steps"))
    assert focused() == "s-steps-title"
    web.check_labels()
    write = page.locator("li.step").first
    press(write.get_by_role("button", name="Add a field to step 1"))
    page.keyboard.type("email")  # the focus went to the new line's field
    page.keyboard.press("Tab")
    page.keyboard.type("email")

    # A lookup, added at the end and moved before the write; the focus follows the step.
    page.get_by_label("Add a step at the end").select_option("lookup")
    press(page.get_by_role("button", name="Add the step at the end"))
    assert focused().endswith("-title") and "Find a record" in page.evaluate(
        "() => document.activeElement.innerText"
    )
    lookup = page.locator("li.step-lookup")
    lookup.get_by_label("Connection").select_option(label="Helpdesk (zendesk)")
    web.settle()
    page.locator("li.step-lookup").get_by_label("Records").select_option("organizations")
    web.settle()
    press(page.get_by_role("button", name="Move up step 2"))
    assert page.locator("li.step").first.get_attribute("class") == "card step step-lookup"
    assert focused() == page.locator("li.step-lookup h4").get_attribute("id")
    lookup = page.locator("li.step-lookup")
    lookup.get_by_label("Find the record whose field").fill("external_id")
    lookup.get_by_label("equals the value of").fill("company")
    web.check_labels()

    # A chat message that reads the lookup's result; the step lists the names it may use.
    page.get_by_label("Add a step at the end").select_option("notify")
    press(page.get_by_role("button", name="Add the step at the end"))
    notify = page.locator("li.step-notify")
    notify.get_by_label("Chat connection").select_option(label="Team chat (slack)")
    web.settle()
    notify = page.locator("li.step-notify")
    names = notify.locator("datalist option").evaluate_all("els => els.map(e => e.value)")
    assert "steps.find_1.fields.external_id" in names and "steps.write.id" in names
    notify.get_by_label("Channel").fill("#support")
    notify.get_by_label("Message").fill("{email} is in organization {steps.find_1.fields.name}")
    press(page.get_by_role("button", name="Check the steps"))
    assert page.locator(".field-error").count() == 0, page.locator(".field-error").all_inner_texts()
    web.check_labels()
    web.shot("builder-steps")
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the step editor scrolls sideways by {overflow}px on a phone"
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Save draft").click()
    page.get_by_text("Draft saved.").wait_for()
    workflow = Workflow.objects.get(name="Contacts with their organization")
    assert [step["type"] for step in workflow.steps] == ["lookup", "action", "notify"]
    assert workflow.steps[0]["by"] == {"field": "external_id", "value_from": "company"}
    assert workflow.steps[1]["mapping"] == {"fields": [{"target": "email", "source": ["email"]}]}
    assert workflow.steps[2] == {
        "type": "notify",
        "id": "tell_1",
        "connection": chat.pk,
        "channel": "#support",
        "format": "{email} is in organization {steps.find_1.fields.name}",
    }
