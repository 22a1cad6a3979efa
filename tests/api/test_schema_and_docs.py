"""The OpenAPI schema and the Swagger UI, whose assets are served by the hub itself (no CDN)."""

from __future__ import annotations

import re

from django.contrib.staticfiles import finders
from django.test import Client


def test_the_schema_describes_token_auth_problems_and_idempotency(client: Client, db: None) -> None:
    schema = client.get("/api/schema/?format=json").json()

    assert schema["openapi"].startswith("3.")
    token_auth = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (token_auth["type"], token_auth["in"], token_auth["name"]) == ("apiKey", "header", "Authorization")
    assert 'prefix "Token"' in token_auth["description"]
    run = schema["paths"]["/api/v1/workflows/{id}/run"]["post"]
    assert "application/problem+json" in run["responses"]["409"]["content"]
    assert any(p["name"] == "Idempotency-Key" for p in run["parameters"])
    create = schema["components"]["schemas"]["ConnectionCreateRequest"]
    assert create["properties"]["credentials"]["writeOnly"] is True
    assert "credentials" not in schema["components"]["schemas"]["Connection"]["properties"]


def test_the_docs_page_loads_swagger_ui_from_local_static_files(client: Client, db: None) -> None:
    page = client.get("/api/docs/")

    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
    assert assets, html
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} is not served by the hub"
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not in any static folder"
    # Nothing is fetched from another host: no absolute URL anywhere in the page or its inline script.
    assert re.findall(r"https?://", html) == []
