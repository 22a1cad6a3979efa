"""Typed readers for environment settings.

Every reader names the variable in its error, so a malformed setting stops the
process at start-up with a message that says what to fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse


class ImproperlyConfiguredSetting(Exception):
    """A setting read from the environment has a value we cannot use."""


def env_str(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get(name, default)


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfiguredSetting(f"{name} must be one of true/false/1/0/yes/no/on/off, got {raw!r}")


def env_int(name: str, default: int, environ: Mapping[str, str] | None = None, minimum: int = 0) -> int:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfiguredSetting(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfiguredSetting(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


_DB_ENGINES = {
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
    "pgsql": "django.db.backends.postgresql",
    "sqlite": "django.db.backends.sqlite3",
}


def parse_database_url(name: str, url: str) -> dict[str, Any]:
    """Turn `postgres://user:pass@host:port/db` or `sqlite:///path` into a DATABASES entry."""
    parsed = urlparse(url)
    engine = _DB_ENGINES.get(parsed.scheme)
    if engine is None:
        raise ImproperlyConfiguredSetting(
            f"{name} must start with postgres:// or sqlite:///, got scheme {parsed.scheme or '(none)'!r}"
        )
    if engine.endswith("sqlite3"):
        path = unquote(parsed.path)
        if parsed.netloc:
            raise ImproperlyConfiguredSetting(f"{name}: a sqlite URL has no host; use sqlite:////abs/path")
        if not path or path == "/":
            raise ImproperlyConfiguredSetting(
                f"{name}: a sqlite URL needs a file path, e.g. sqlite:///data/db"
            )
        # sqlite:///rel/path is relative to the working folder; sqlite:////abs/path is absolute.
        return {"ENGINE": engine, "NAME": path[1:]}
    db_name = unquote(parsed.path.lstrip("/"))
    if not db_name:
        raise ImproperlyConfiguredSetting(f"{name}: a postgres URL needs a database name after the host")
    try:
        port = parsed.port
    except ValueError:
        raise ImproperlyConfiguredSetting(f"{name}: the port in {url!r} is not a number") from None
    options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    # The planner's default cost of a random page read (4, for spinning disks) made it walk a run's
    # records through the primary key (filtering out every other run's) rather than the (run, id) index
    # once other runs' records came first: 0.7 s instead of 0.7 ms for the first page of a large run's
    # log. 1.1 is PostgreSQL's advice for SSDs; `?options=` in the URL replaces it.
    options.setdefault("options", "-c random_page_cost=1.1")
    return {
        "ENGINE": engine,
        "NAME": db_name,
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(port or ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def check_broker_url(name: str, url: str) -> str:
    scheme = urlparse(url).scheme
    if scheme not in {"redis", "rediss", "amqp", "pyamqp", "filesystem", "memory"}:
        raise ImproperlyConfiguredSetting(
            f"{name} must start with redis://, amqp:// or filesystem://, got scheme {scheme or '(none)'!r}"
        )
    return url


def env_int_list(name: str, default: list[int], environ: Mapping[str, str] | None = None) -> list[int]:
    raw = env_list(name, [str(value) for value in default], environ)
    try:
        values = [int(item) for item in raw]
    except ValueError:
        raise ImproperlyConfiguredSetting(
            f"{name} must be comma-separated whole numbers, got {raw!r}"
        ) from None
    if any(value < 0 for value in values):
        raise ImproperlyConfiguredSetting(f"{name} must not hold negative numbers, got {values}")
    return values
