"""A CRM sandbox whose resets also define the demo "cars" custom object, for the custom object case."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.sandbox.testing import SandboxProcess

CARS = "p7300001_cars"


class CarsSandbox:
    """The CRM sandbox, seen through its "cars" custom object: a reset to n also creates n cars (each
    linked to a contact), and `records` lists the cars."""

    def __init__(self, process: SandboxProcess) -> None:
        self.process = process

    def __getattr__(self, name: str) -> Any:
        return getattr(self.process, name)

    def reset(self, seed: int = 0) -> dict[str, Any]:
        counts = self.process.reset(seed)
        self.process.admin("POST", "/schemas", {"example": "cars", "records": seed})
        return counts

    def records(self, object_: str = CARS) -> list[dict[str, Any]]:
        if object_ != CARS:
            return self.process.records(object_)
        return list(self.process.admin("GET", f"/custom-objects/{CARS}/records")["results"])


@pytest.fixture
def crm_cars_sandbox(crm_sandbox_process: SandboxProcess) -> CarsSandbox:
    sandbox = CarsSandbox(crm_sandbox_process)
    sandbox.reset(30)
    return sandbox
