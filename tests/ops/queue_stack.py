"""Set-up steps the queue-split test runs in a subprocess against its own database.

pytest-django's test database is invisible to other processes, so the workers and the web server of
that test use a database of their own, and this module writes into it with the hub's own services:

    python -m tests.ops.queue_stack setup --crm URL --helpdesk URL     -> {"backfill": id, "hook": id, "token": ...}
    python -m tests.ops.queue_stack backfill --workflow ID             -> {"run": id}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def _setup(crm_url: str, helpdesk_url: str) -> dict[str, Any]:
    from integrations_hub.accounts.models import Team
    from tests.factories import hubspot_connection, zendesk_connection
    from tests.workflows.helpers import CONTACT_MAPPING
    from workflows.models import Workflow
    from workflows.services.workflow import workflow_create

    team = Team.objects.create(name="Ops")
    helpdesk = zendesk_connection(team=team, base_url=helpdesk_url)
    # Not enabled: nothing but the test's own request starts it (no beat runs in the test).
    backfill = workflow_create(
        team=team,
        name="CRM backfill",
        source_connection=hubspot_connection(team=team, base_url=crm_url),
        source_object="contacts",
        target_connection=helpdesk,
        target_object="users",
        mapping=CONTACT_MAPPING,
    )
    hook = workflow_create(
        team=team,
        name="Web-form leads",
        source_connection=None,
        source_object="",
        target_connection=helpdesk,
        target_object="users",
        mapping={
            "fields": [
                {"target": "name", "source": "$.lead.name"},
                {"target": "email", "source": "$.lead.email", "transforms": [{"name": "lower"}]},
            ]
        },
        trigger=Workflow.Trigger.WEBHOOK,
        enabled=True,
    )
    return {"backfill": backfill.pk, "hook": hook.pk, "token": hook.webhook_token}


def _backfill(workflow_id: int) -> dict[str, Any]:
    from workflows.models import Run, Workflow
    from workflows.services.runs import run_request

    # Enqueued on commit, through the routes in settings: the bulk queue.
    run = run_request(workflow=Workflow.objects.get(pk=workflow_id), trigger=Run.Trigger.MANUAL)
    if run is None:
        raise SystemExit("a run of this workflow is already active")
    return {"run": run.pk}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.ops.queue_stack")
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("setup")
    setup.add_argument("--crm", required=True)
    setup.add_argument("--helpdesk", required=True)
    backfill = commands.add_parser("backfill")
    backfill.add_argument("--workflow", type=int, required=True)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integrations_hub.settings")
    import django

    django.setup()
    result = _setup(args.crm, args.helpdesk) if args.command == "setup" else _backfill(args.workflow)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
