"""The SaaS sandboxes (billing, sales, marketing, chat) as shared processes for tests.

One process per system per test process (per xdist worker), started on first use; the sandbox
module's exit hook stops it. `fresh(system)` resets it to the system's test seed, so every test starts
from the same small deterministic data set, with empty request stats and no faults. Tests anywhere in
the tree can use it without a fixture plugin (tests/connectors/conftest.py wraps it in fixtures).
"""

from __future__ import annotations

import threading

from connectors.sandbox import billing, chat, marketing, sales
from connectors.sandbox.testing import SandboxProcess

# Small seeds keep resets fast; paging tests reset to more themselves.
SEEDS = {"billing": 30, "sales": 30, "marketing": 30, "chat": 0}

BILLING_KEY = billing.DEFAULT_KEY
BILLING_WEBHOOK_SECRET = billing.DEFAULT_WEBHOOK_SECRET
SALES_TOKEN = sales.DEFAULT_TOKEN
MARKETING_KEY = marketing.DEFAULT_KEY
MARKETING_LIST_ID = marketing.LIST_ID
CHAT_TOKEN = chat.DEFAULT_TOKEN
CHAT_SIGNING_SECRET = chat.DEFAULT_SIGNING_SECRET
CHAT_WEBHOOK_PATH = f"/services/{chat.TEAM_ID}/B0HOOK0001/{chat.DEFAULT_WEBHOOK_TOKEN}"
CHAT_ARCHIVED_WEBHOOK_PATH = f"/services/{chat.TEAM_ID}/B0HOOK0002/{chat.ARCHIVED_WEBHOOK_TOKEN}"
CHAT_DELETED_CHANNEL_WEBHOOK_PATH = f"/services/{chat.TEAM_ID}/B0HOOK0003/{chat.DELETED_WEBHOOK_TOKEN}"

_RUNNING: dict[str, SandboxProcess] = {}
_LOCK = threading.Lock()


def running(system: str) -> SandboxProcess:
    """The shared process of `system`, started on first use."""
    with _LOCK:
        sandbox = _RUNNING.get(system)
        if sandbox is None or not sandbox.running:
            sandbox = SandboxProcess(system, seed=SEEDS[system]).start()
            _RUNNING[system] = sandbox
        return sandbox


def fresh(system: str, seed: int | None = None) -> SandboxProcess:
    """The shared process of `system`, reset to `seed` (default: its test seed)."""
    sandbox = running(system)
    sandbox.reset(SEEDS[system] if seed is None else seed)
    return sandbox
