"""Any REST API, described by a declarative manifest kept in the connection's settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import Capabilities, Provider
from connectors.providers.rest_manifest.client import RestManifestClient, RestManifestConfig
from connectors.providers.rest_manifest.manifest import Manifest, ManifestError, ObjectSpec, parse_manifest


def manifest_of(config: Mapping[str, Any]) -> Manifest | None:
    """The connection's parsed manifest, or None when it has none or it is not valid."""
    text = config.get("manifest")
    if not isinstance(text, str):
        return None
    try:
        return parse_manifest(text)
    except ManifestError:
        return None


def object_capabilities(spec: ObjectSpec) -> Capabilities:
    """What the manifest declares for one object: its write endpoints, batch limits and incremental mode."""
    write = spec.write
    create = write is not None and (write.create is not None or write.upsert is not None)
    update = write is not None and (write.update is not None or write.upsert is not None)
    upsert = write.upsert if write is not None else None
    # The key is a field name other code matches on: the first one the endpoint accepts. An upsert that
    # declares none takes whichever match field the workflow uses, which no single name can say.
    upsert_key = upsert.match_fields[0] if upsert is not None and upsert.match_fields else None
    ops = (write.create, write.update, write.upsert) if write is not None else ()
    batches = [op.max_batch for op in ops if op is not None and op.batch]
    return Capabilities(
        read=True,
        incremental=spec.incremental.mode != "none",
        create=create,
        update=update,
        upsert_key=upsert_key,
        batch_size=min(batches) if batches else 100,
        webhooks=False,
    )


class RestManifestProvider(Provider):
    key = "rest_manifest"
    label = "REST API (manifest)"
    # The manifest decides (bearer, basic, API key or none); its secrets are named in the manifest.
    auth_scheme = "none"
    config_model = RestManifestConfig
    # Secret names come from each connection's manifest (see secret_names), so none are fixed here.
    credential_fields = ()
    # Objects are declared by each manifest (see objects_for).
    objects = {}
    capabilities = {}
    client_class = RestManifestClient

    @classmethod
    def secret_names(cls, config: Mapping[str, Any]) -> tuple[str, ...]:
        manifest = manifest_of(config)
        return tuple(manifest.secret_names()) if manifest is not None else ()

    @classmethod
    def objects_for(cls, config: Mapping[str, Any]) -> dict[str, str]:
        manifest = manifest_of(config)
        if manifest is None:
            return {}
        return {
            name: spec.label or name.replace("_", " ").capitalize() for name, spec in manifest.objects.items()
        }

    @classmethod
    def capabilities_for(cls, config: Mapping[str, Any], object_name: str) -> Capabilities | None:
        manifest = manifest_of(config)
        spec = manifest.objects.get(object_name) if manifest is not None else None
        return object_capabilities(spec) if spec is not None else None
