"""Shared pieces of the API's input serializers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers


class RejectUnknownFields:
    """Mix into an input serializer: a field it does not take is an error, not silently dropped
    (a client sending `target_connection` to a draft that cannot change it must hear so)."""

    fields: Any

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(key) for key in data if key not in writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field, or one that cannot be set here."] for name in unknown}
                )
        return super().to_internal_value(data)  # type: ignore[misc]
