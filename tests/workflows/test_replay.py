from __future__ import annotations

from typing import Any

from tests.workflows.helpers import CONTACT_MAPPING, crm_to_helpdesk, helpdesk_users, run_now
from workflows.models import Run, RunRecord
from workflows.services.replay import dead_letters, run_replay
from workflows.services.runs import run_execute
from workflows.services.versions import workflow_publish
from workflows.services.workflow import workflow_update

# The helpdesk needs a name; this mapping forgets to send one, so every record fails.
BROKEN = {"fields": [f for f in CONTACT_MAPPING["fields"] if f["target"] != "name"]}


def _execute(run: Run | None) -> Run:
    assert run is not None
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_failed_records_wait_in_the_dead_letter_list_with_their_values(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox, mapping=BROKEN)
    run = run_now(workflow)
    assert run.failed_count == run.records_read > 0
    letters = list(dead_letters(workflow=workflow))
    assert len(letters) == run.failed_count
    assert all(letter.source_fields and letter.source_fields.get("email") for letter in letters)
    assert "Name:" in letters[0].error


def test_replay_after_fixing_the_mapping_writes_each_record_once(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox, mapping=BROKEN)
    failed_run = run_now(workflow)
    workflow_update(workflow=workflow, mapping=CONTACT_MAPPING)
    workflow_publish(workflow=workflow)

    replay = _execute(run_replay(run=failed_run, on_current_version=True, enqueue=False))

    assert replay.trigger == Run.Trigger.REPLAY and replay.version.number == 2
    assert replay.created_count == failed_run.failed_count
    assert len(helpdesk_users(helpdesk_sandbox)) == failed_run.failed_count
    assert not dead_letters(workflow=workflow).exists()
    # Replaying again finds nothing left to write.
    again = _execute(run_replay(run=failed_run, on_current_version=True, enqueue=False))
    assert again.records_read == 0
    assert len(helpdesk_users(helpdesk_sandbox)) == failed_run.failed_count


def test_replay_on_the_version_that_ran_fails_again_and_keeps_the_letter(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox, mapping=BROKEN)
    failed_run = run_now(workflow)
    workflow_update(workflow=workflow, mapping=CONTACT_MAPPING, publish=True)
    one = RunRecord.objects.filter(run=failed_run).first()
    assert one is not None

    replay = _execute(run_replay(run=failed_run, record_ids=[one.pk], enqueue=False))

    assert replay.version.number == 1
    assert replay.records_read == 1 and replay.failed_count == 1
    assert helpdesk_users(helpdesk_sandbox) == []
    # The replayed record's new failure is the one left in the list; the old one is marked replayed.
    assert dead_letters(workflow=workflow).filter(run=replay).count() == 1
    assert dead_letters(workflow=workflow).filter(pk=one.pk).count() == 0
