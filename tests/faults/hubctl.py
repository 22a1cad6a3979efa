"""Control a fault-test stack from the outside: `python tests/faults/hubctl.py <command> '<json args>'`.

Runs in its own process with the stack's environment (DATABASE_URL, CELERY_BROKER_URL), so the test
process never shares Django settings with the stack and nothing in the stack is monkeypatched.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sys
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integrations_hub.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from workflows.demo import DEMO_MAPPING, demo_seed  # noqa: E402
from workflows.models import Run, Workflow  # noqa: E402

WEBHOOK_MAPPING: dict[str, object] = {
    "fields": [
        {"target": "name", "source": ["name"]},
        {"target": "email", "source": ["email"], "transforms": [{"name": "trim"}, {"name": "lower"}]},
        {"target": "phone", "source": ["phone"]},
    ]
}


def _oauth_tokens(crm_url: str) -> dict[str, Any]:
    """Authorization code + PKCE against the CRM sandbox's OAuth server, as a browser and the hub would."""
    from connectors.sandbox.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = "http://127.0.0.1:9/callback"
    query = urlencode(
        {
            "client_id": DEFAULT_CLIENT_ID,
            "redirect_uri": redirect,
            "scope": "oauth crm.objects.contacts.read crm.objects.contacts.write crm.schemas.contacts.read",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{crm_url}/oauth/authorize?{query}", timeout=10)
        raise RuntimeError("the authorize endpoint did not redirect")
    except urllib.error.HTTPError as exc:
        location = exc.headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    form = urlencode(
        {
            "grant_type": "authorization_code",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "redirect_uri": redirect,
            "code": code,
            "code_verifier": verifier,
        }
    ).encode()
    request = urllib.request.Request(
        f"{crm_url}/oauth/v1/token",
        data=form,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def setup(args: dict[str, Any]) -> dict[str, Any]:
    from connectors.models import Connection

    demo = demo_seed(crm_url=args["crm_url"], helpdesk_url=args["helpdesk_url"], poll_interval_seconds=3600)
    workflow = demo.workflow
    out: dict[str, Any] = {"workflow_id": workflow.pk}
    if args.get("oauth"):
        tokens = _oauth_tokens(args["crm_url"])
        crm = Connection.objects.get(team=demo.team, name="Demo CRM")
        crm.set_credentials(
            {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"]}
        )
        crm.auth_method = Connection.AuthMethod.OAUTH2
        crm.token_expires_at = timezone.now() + timezone.timedelta(seconds=int(tokens["expires_in"]))
        crm.save()
        out["access_token"] = tokens["access_token"]
    if args.get("webhook"):
        from workflows.services.workflow import workflow_create

        helpdesk = Connection.objects.get(team=demo.team, name="Demo Helpdesk")
        hook = workflow_create(
            team=demo.team,
            name="Inbound people → Helpdesk users",
            source_connection=None,
            source_object="",
            target_connection=helpdesk,
            target_object="users",
            mapping=WEBHOOK_MAPPING,
            match_field="email",
            trigger=Workflow.Trigger.WEBHOOK,
            enabled=True,
        )
        hook.refresh_from_db()
        out["webhook_workflow_id"] = hook.pk
        out["webhook_token"] = hook.webhook_token
    assert DEMO_MAPPING  # the poll workflow maps CRM contacts with the demo mapping
    return out


def run(args: dict[str, Any]) -> dict[str, Any]:
    """Queue a manual run through the broker (the worker executes it), as `Run now` does."""
    from workflows.services.runs import run_request

    workflow = Workflow.objects.get(pk=args["workflow_id"])
    with transaction.atomic():
        queued = run_request(workflow=workflow, trigger=Run.Trigger.MANUAL, enqueue=True)
    return {"run_id": queued.pk if queued else None}


def sweep(args: dict[str, Any]) -> dict[str, Any]:
    """What beat's minute sweep does: hand due webhook events to their workflows."""
    from workflows.tasks import sweep as sweep_task

    sweep_task.delay()
    return {"ok": True}


COMMANDS = {"setup": setup, "run": run, "sweep": sweep}

if __name__ == "__main__":
    command = sys.argv[1]
    payload = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    print("HUBCTL " + json.dumps(COMMANDS[command](payload)))
