from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from integrations_hub.env import (
    ImproperlyConfiguredSetting,
    check_broker_url,
    env_bool,
    env_int,
    parse_database_url,
)

ROOT = Path(__file__).resolve().parents[2]


def test_postgres_url_becomes_a_database_entry() -> None:
    entry = parse_database_url(
        "DATABASE_URL", "postgres://hub:s%40cret@db.example:5433/hubdb?sslmode=require"
    )
    assert entry["ENGINE"] == "django.db.backends.postgresql"
    assert (entry["NAME"], entry["USER"], entry["PASSWORD"]) == ("hubdb", "hub", "s@cret")
    assert (entry["HOST"], entry["PORT"]) == ("db.example", "5433")
    assert entry["OPTIONS"] == {"sslmode": "require", "options": "-c random_page_cost=1.1"}
    own = parse_database_url("DATABASE_URL", "postgres://hub@db.example/hubdb?options=-c%20work_mem%3D64MB")
    assert own["OPTIONS"] == {"options": "-c work_mem=64MB"}


def test_sqlite_url_keeps_relative_and_absolute_paths() -> None:
    assert parse_database_url("DATABASE_URL", "sqlite:///data/x.sqlite3")["NAME"] == "data/x.sqlite3"
    assert parse_database_url("DATABASE_URL", "sqlite:////tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u@h/db", "must start with postgres:// or sqlite:///"),
        ("postgres://u@h:notaport/db", "port"),
        ("postgres://u@h:5432/", "needs a database name"),
        ("sqlite://", "needs a file path"),
    ],
)
def test_malformed_database_url_names_the_variable(url: str, fragment: str) -> None:
    with pytest.raises(ImproperlyConfiguredSetting) as excinfo:
        parse_database_url("DATABASE_URL", url)
    assert "DATABASE_URL" in str(excinfo.value)
    assert fragment in str(excinfo.value)


def test_malformed_scalars_name_the_variable() -> None:
    with pytest.raises(ImproperlyConfiguredSetting, match="DEBUG must be one of"):
        env_bool("DEBUG", False, {"DEBUG": "maybe"})
    with pytest.raises(ImproperlyConfiguredSetting, match="HUB_HTTP_TIMEOUT_SECONDS must be a whole number"):
        env_int("HUB_HTTP_TIMEOUT_SECONDS", 30, {"HUB_HTTP_TIMEOUT_SECONDS": "ten"})
    with pytest.raises(ImproperlyConfiguredSetting, match="CELERY_BROKER_URL must start with"):
        check_broker_url("CELERY_BROKER_URL", "kafka://x")
    assert env_bool("DEBUG", False, {"DEBUG": "On"}) is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DATABASE_URL", "mysql://x/y"), ("CELERY_BROKER_URL", "nope"), ("DEBUG", "perhaps")],
)
def test_process_refuses_to_start_with_a_malformed_setting(variable: str, value: str) -> None:
    env = {**os.environ, variable: value}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert variable in result.stderr
    assert "ImproperlyConfiguredSetting" in result.stderr


def _cache_probe(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    script = "import django; django.setup(); " + code
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "integrations_hub.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hub_cache_url_makes_every_process_share_one_cache() -> None:
    redis_url = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
    key = f"shared-cache-probe-{os.getpid()}"
    env = {**os.environ, "HUB_CACHE_URL": redis_url}
    written = _cache_probe(env, f"from django.core.cache import cache; cache.set({key!r}, 'seen', 30)")
    if written.returncode != 0 and "Connection refused" in written.stderr:
        pytest.skip(f"no Redis at {redis_url}")
    assert written.returncode == 0, written.stderr

    read = _cache_probe(
        env, f"from django.core.cache import cache; print(cache.get({key!r})); cache.delete({key!r})"
    )

    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == "seen"


def test_without_hub_cache_url_each_process_keeps_its_own_cache() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HUB_CACHE_URL"}
    result = _cache_probe(
        env, "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.core.cache.backends.locmem.LocMemCache"


def test_a_cache_url_that_is_not_redis_names_the_variable() -> None:
    result = _cache_probe({**os.environ, "HUB_CACHE_URL": "memcached://x"}, "pass")

    assert result.returncode != 0
    assert "HUB_CACHE_URL" in result.stderr


def test_by_default_no_private_or_loopback_host_is_allowed_for_outbound_calls() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HUB_HTTP_ALLOWED_PRIVATE_HOSTS"}
    result = _cache_probe(
        env, "from django.conf import settings; print(settings.HUB_HTTP_ALLOWED_PRIVATE_HOSTS)"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_browsers_asking_for_favicon_ico_get_the_hubs_icon(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("hub/favicon.svg")
    assert (ROOT / "static" / "hub" / "favicon.svg").is_file()
