"""Test setup shared by the whole suite: settings for tests, the cast of users, the sandbox fixtures."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

# Before Django loads settings: keep test state out of ./data, and use an in-process broker
# unless CI points us at Redis.
_DATA_DIR = tempfile.mkdtemp(prefix="hub-test-data-")
os.environ.setdefault("HUB_DATA_DIR", _DATA_DIR)
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("HUB_ENCRYPTION_KEYS", "x1Yt0Jd3FL6mB2vGZ9mQn2m5Y0s0ZP8mS2r5h8kq3aI=")
# The sandboxes listen on loopback; production allows no private host unless an administrator says so
# (tests of the guard itself set the list empty).
os.environ.setdefault("HUB_HTTP_ALLOWED_PRIVATE_HOSTS", "127.0.0.1,localhost")

pytest_plugins = ["tests.fixtures_sandbox"]


@pytest.fixture(autouse=True)
def _test_settings(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Settings may have been read before the environment above was set.
    settings.HUB_HTTP_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1", "localhost"]


@pytest.fixture(autouse=True)
def _fresh_rate_budgets() -> None:
    # The in-process governor outlives a test; a Retry-After block from one test must not slow the next.
    from connectors.ratelimit import LOCAL_GOVERNOR

    LOCAL_GOVERNOR.reset()


@pytest.fixture
def team(db: None) -> Any:
    from tests.factories import TeamFactory

    return TeamFactory(name="Acme")


@pytest.fixture
def other_team(db: None) -> Any:
    from tests.factories import TeamFactory

    return TeamFactory(name="Globex")


@pytest.fixture
def editor(team: Any) -> Any:
    from tests.factories import member

    return member(team=team, username="erin-editor", role="editor")


@pytest.fixture
def admin_user(team: Any) -> Any:
    from tests.factories import member

    return member(team=team, username="ada-admin", role="admin")


@pytest.fixture
def outsider(other_team: Any) -> Any:
    from tests.factories import member

    return member(team=other_team, username="oscar-outsider", role="admin")


@pytest.fixture
def editor_client(client: Any, editor: Any) -> Iterator[Any]:
    client.force_login(editor)
    yield client


@pytest.fixture
def outsider_client(client: Any, outsider: Any) -> Iterator[Any]:
    client.force_login(outsider)
    yield client
