"""Slack messages over the chat sandbox: the write half only (messages are posted, never read)."""

from __future__ import annotations

from typing import Any

from connectors.base import WriteItem
from connectors.sandbox.testing import SandboxProcess
from tests.connectors import saas_clients
from tests.connectors.contract.cases import ContractCase


def _client(sandbox: SandboxProcess, wrong: str | None) -> Any:
    return saas_clients.slack(sandbox, wrong) if wrong else saas_clients.slack(sandbox)


CASE = ContractCase(
    name="slack",
    fixture="chat_sandbox",
    object_name="messages",
    connect=_client,
    wrong_credential="xoxb-wrong-token",
    wrong_credential_says="invalid_auth",
    schema_has={"channel": "enumeration", "text": "string", "blocks": "json"},
    count=lambda sandbox: len(sandbox.records("messages")),
    reads=False,
    updates=False,
    new_items=lambda prefix: [
        WriteItem(f"{prefix}{n}", {"channel": "C0SALES001", "text": f"{prefix} message {n}"})
        for n in range(4)
    ],
    invalid_item=WriteItem("bad", {"channel": "#does-not-exist", "text": "lost"}),
    rejection_says="channel_not_found",
    kind="slack",
)
