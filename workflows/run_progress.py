"""How far a run has got, and when it should finish: the progress bar of the run pages.

The total is known only where the hub holds the work before it starts: stored webhook events and uploaded
file rows (done + still pending), and the failed records a replay re-processes. A poll reads pages until
the source says there are no more, so its bar is indeterminate and shows what has been read.

The ETA takes the larger of two estimates: the pace the run has kept so far, and what the target's
documented rate limit allows for the requests still to make. Early in a run the observed pace says
little, and no run can outpace the provider's budget, so the rate limit is the floor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from connectors.base import RateLimit
from connectors.registry import UnknownConnector, get_provider
from workflows.models import InboundEvent, Run, Workflow

_EVENT_TRIGGERS = frozenset({Workflow.Trigger.WEBHOOK, Workflow.Trigger.FILE})
_WAITING = (InboundEvent.Status.PENDING, InboundEvent.Status.PROCESSING)


@dataclass(frozen=True)
class RunProgress:
    done: int
    total: int | None
    eta_seconds: float | None = None
    # True when the rate limit, not the pace so far, decides the ETA: the page says so.
    rate_limited: bool = False
    rate_limit_label: str = ""

    @property
    def known(self) -> bool:
        return self.total is not None

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.total == 0 else 0
        return min(100, round(100 * self.done / self.total))

    @property
    def eta_label(self) -> str:
        if self.eta_seconds is None:
            return ""
        seconds = max(1, math.ceil(self.eta_seconds))
        if seconds < 90:
            return f"about {seconds} s left"
        minutes = math.ceil(seconds / 60)
        if minutes < 90:
            return f"about {minutes} min left"
        return f"about {minutes / 60:.1f} h left"


def estimate(
    *,
    done: int,
    total: int | None,
    started_at: datetime | None,
    now: datetime,
    batch_size: int,
    rate_limit: RateLimit | None,
) -> RunProgress:
    """The pure part: progress and ETA from counts, times and the target's declared budget."""
    label = f"{rate_limit.requests} requests per {rate_limit.interval_seconds:g} s" if rate_limit else ""
    if total is None or total <= done:
        return RunProgress(done=done, total=total, rate_limit_label=label)
    remaining = total - done
    paced: float | None = None
    if started_at is not None and done > 0:
        elapsed = max((now - started_at).total_seconds(), 0.001)
        paced = remaining / (done / elapsed)
    limited: float | None = None
    if rate_limit is not None:
        # One write request per batch: the fewest requests the rest of the run can take.
        requests = math.ceil(remaining / max(batch_size, 1))
        limited = requests * rate_limit.interval_seconds / rate_limit.requests
    if paced is None and limited is None:
        return RunProgress(done=done, total=total, rate_limit_label=label)
    eta = max(value for value in (paced, limited) if value is not None)
    return RunProgress(
        done=done,
        total=total,
        eta_seconds=eta,
        rate_limited=limited is not None and (paced is None or limited >= paced),
        rate_limit_label=label,
    )


def attach_progress(runs: Iterable[Run]) -> None:
    """Set `run.progress` on each active run in two queries, whatever the number of runs.

    The runs must come with `workflow` and `workflow__target_connection` selected.
    """
    active = [run for run in runs if run.is_active]
    if not active:
        return
    pending = _pending_by_workflow({run.workflow_id for run in active if _counts_events(run)})
    replayed = _replayed_counts([run for run in active if run.trigger == Run.Trigger.REPLAY])
    now = timezone.now()
    for run in active:
        run.progress = _progress(run, pending, replayed, now)  # type: ignore[attr-defined]


def run_progress(run: Run) -> RunProgress | None:
    """The progress of one run (None when it is not active): for the run page's summary."""
    if not run.is_active:
        return None
    attach_progress([run])
    progress: RunProgress = run.progress  # type: ignore[attr-defined]
    return progress


def _counts_events(run: Run) -> bool:
    return run.trigger != Run.Trigger.REPLAY and run.workflow.trigger in _EVENT_TRIGGERS


def _pending_by_workflow(workflow_ids: set[int]) -> dict[int, int]:
    if not workflow_ids:
        return {}
    rows = (
        InboundEvent.objects.filter(workflow_id__in=workflow_ids, status__in=_WAITING)
        .values("workflow_id")
        .annotate(n=Count("id"))
    )
    return {row["workflow_id"]: row["n"] for row in rows}


def _replayed_counts(runs: list[Run]) -> dict[int, int]:
    """How many records each replay run re-processes: the chosen ones, or the failed ones of its run."""
    counts = {run.pk: len(run.replay_record_ids) for run in runs if run.replay_record_ids}
    whole = {run.pk: run.replay_of_id for run in runs if not run.replay_record_ids and run.replay_of_id}
    if whole:
        failed = dict(Run.objects.filter(pk__in=set(whole.values())).values_list("pk", "failed_count"))
        counts.update({pk: failed.get(of, 0) for pk, of in whole.items()})
    return counts


def _progress(run: Run, pending: dict[int, int], replayed: dict[int, int], now: datetime) -> RunProgress:
    total: int | None = None
    if run.trigger == Run.Trigger.REPLAY:
        total = replayed.get(run.pk)
    elif _counts_events(run):
        total = run.records_read + pending.get(run.workflow_id, 0)
    target = run.workflow.target_connection
    try:
        provider = get_provider(target.kind)
    except UnknownConnector:
        return RunProgress(done=run.records_read, total=total)
    declared = provider.capabilities.get(run.workflow.target_object)
    return estimate(
        done=run.records_read,
        total=total,
        started_at=run.started_at,
        now=now,
        batch_size=declared.batch_size if declared else 100,
        rate_limit=target.rate_limit(),
    )
