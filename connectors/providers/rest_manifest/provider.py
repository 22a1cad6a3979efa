"""Any REST API, described by a declarative manifest kept in the connection's settings."""

from __future__ import annotations

from connectors.base import Provider
from connectors.providers.rest_manifest.client import RestManifestClient, RestManifestConfig


class RestManifestProvider(Provider):
    key = "rest_manifest"
    label = "REST API (manifest)"
    # The manifest decides (bearer, basic, API key or none); its secrets are named in the manifest.
    auth_scheme = "none"
    config_model = RestManifestConfig
    # Secret names come from each connection's manifest, so none are fixed here; the client reports
    # any the manifest names that the connection lacks.
    credential_fields = ()
    # Objects are declared by each manifest: see RestManifestClient.object_labels().
    objects = {}
    capabilities = {}
    client_class = RestManifestClient
