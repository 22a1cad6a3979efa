from __future__ import annotations

from integrations_hub.celery import app as celery_app

__all__ = ["celery_app"]
