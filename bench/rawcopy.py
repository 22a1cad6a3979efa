"""The yardstick: a minimal copy script over the same two sandbox APIs (search pages → create_or_update_many).

Plain `http.client` with keep-alive, no mapping engine, no database: what a hand-written one-off script does.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from typing import Any
from urllib.parse import urlparse

CRM_TOKEN = "demo-crm-token"  # noqa: S105 - the sandbox's documented default
HELPDESK_AUTH = "Basic " + base64.b64encode(b"agent@demo.example/token:demo-helpdesk-token").decode()


class Conn:
    def __init__(self, url: str, auth: str) -> None:
        parsed = urlparse(url)
        self.http = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
        self.auth = auth
        self.requests = 0

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": self.auth, "Content-Type": "application/json"}
        self.http.request(method, path, body=payload, headers=headers)
        response = self.http.getresponse()
        raw = response.read()
        self.requests += 1
        return response.status, (json.loads(raw) if raw else None)


def copy(crm_url: str, helpdesk_url: str, page_size: int = 100) -> dict[str, Any]:
    crm = Conn(crm_url, f"Bearer {CRM_TOKEN}")
    helpdesk = Conn(helpdesk_url, HELPDESK_AUTH)
    copied = 0
    after = 0
    started = time.perf_counter()
    while True:
        status, data = crm.call(
            "POST",
            "/crm/v3/objects/contacts/search",
            {
                "filterGroups": [],
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                "properties": ["email", "firstname", "lastname", "phone"],
                "limit": page_size,
                "after": str(after),
            },
        )
        if status != 200:
            raise RuntimeError(f"search: {status} {data}")
        results = data.get("results") or []
        users = []
        for r in results:
            p = r["properties"]
            if not p.get("email"):
                continue
            name = " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x) or p["email"]
            users.append({"name": name, "email": p["email"].strip().lower(), "phone": p.get("phone")})
        if users:
            status, job = helpdesk.call("POST", "/api/v2/users/create_or_update_many.json", {"users": users})
            if status >= 300:
                raise RuntimeError(f"create_or_update_many: {status} {job}")
            job = (job or {}).get("job_status") or {}
            deadline = time.monotonic() + 60
            while (
                str(job.get("status", "completed")).lower() in {"queued", "working"}
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
                _status, polled = helpdesk.call("GET", f"/api/v2/job_statuses/{job['id']}.json")
                job = (polled or {}).get("job_status") or {}
            copied += len(users)
        after += len(results)
        if not ((data.get("paging") or {}).get("next") or {}).get("after"):
            break
    return {
        "seconds": time.perf_counter() - started,
        "records": copied,
        "requests": crm.requests + helpdesk.requests,
    }
