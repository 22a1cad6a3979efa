from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_is_clean_under_production_settings(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "HUB_HTTPS": "true",
        "ALLOWED_HOSTS": "hub.example.com",
        "HUB_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_a_secret_key_each_install_gets_its_own(tmp_path: Path) -> None:
    def key_for(folder: Path) -> str:
        env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
        env["HUB_DATA_DIR"] = str(folder)
        code = (
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'integrations_hub.settings'); "
            "django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    first = key_for(tmp_path / "a")
    assert first == key_for(tmp_path / "a")  # kept between starts
    assert first != key_for(tmp_path / "b")
    assert len(first) >= 50
    assert oct((tmp_path / "a" / "secret.key").stat().st_mode)[-3:] == "600"


def test_pages_send_security_headers(client: Client, editor: Any) -> None:
    client.force_login(editor)
    response = client.get("/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_state_changing_posts_need_the_csrf_token(client: Client, admin_user: Any) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    refused = strict.post(
        "/team/members/", {"username": "x", "password": "a-long-passphrase", "role": "editor"}
    )
    assert refused.status_code == 403
    client.force_login(admin_user)
    for url in ["/team/", "/connections/new/?kind=hubspot"]:
        body = client.get(url).content.decode()
        post_forms = body.count('method="post"')
        assert post_forms > 0, url
        assert body.count('name="csrfmiddlewaretoken"') >= post_forms, url
    assert "X-CSRFToken" in client.get("/").content.decode()  # HTMX requests send it as a header
