"""The one Celery app. Configured from Django settings under the CELERY_ namespace."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integrations_hub.settings")

app = Celery("integrations_hub")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _prepare_file_broker() -> None:
    # The embedded broker keeps messages as files; its folders must exist before anyone connects.
    from django.conf import settings

    if str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
        for key in ("data_folder_in", "processed_folder", "control_folder"):
            Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key])).mkdir(parents=True, exist_ok=True)


_prepare_file_broker()
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _add_worker_heartbeat(sender: Celery, **kwargs: object) -> None:
    # Imported late: the step touches Django models, which need the app registry ready.
    from integrations_hub.health.heartbeats import WorkerHeartbeatStep

    sender.steps["worker"].add(WorkerHeartbeatStep)
