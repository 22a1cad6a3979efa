"""/api/v1/ (the REST API), /api/schema/ and /api/docs/ (OpenAPI), and the token page /account/tokens/.

Included once from the root URLconf. The last pattern answers every other /api/ path with a 404
problem document, so clients get one error format everywhere under /api/.
"""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from connectors.api import ConnectionViewSet, ConnectorTypeViewSet
from integrations_hub.api import views
from integrations_hub.api.docs import SwaggerView
from integrations_hub.api.problems import NotFoundView
from workflows.api import RunViewSet, WorkflowViewSet
from workflows.sync.api import ConflictViewSet, DuplicateHoldViewSet, SyncRunViewSet, SyncViewSet

app_name = "api"

# No trailing slashes: /api/v1/connections/7/test, as API clients expect.
router = SimpleRouter(trailing_slash=False)
router.register("connector-types", ConnectorTypeViewSet, basename="connector-type")
router.register("connections", ConnectionViewSet, basename="connection")
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("runs", RunViewSet, basename="run")
router.register("syncs", SyncViewSet, basename="sync")
router.register("sync-runs", SyncRunViewSet, basename="sync-run")
router.register("conflicts", ConflictViewSet, basename="conflict")
router.register("duplicate-holds", DuplicateHoldViewSet, basename="duplicate-hold")

SCHEMA_SETTINGS = {
    "TITLE": "Integrations Hub API",
    "DESCRIPTION": (
        "Manage connections, workflows and two-way syncs, run them and read per-record results; "
        "resolve sync conflicts and duplicate holds (team admins). "
        "Authenticate with `Authorization: Token <key>` (create keys at /account/tokens/) or a session. "
        "Errors are `application/problem+json`. See docs/api.md."
    ),
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Separate request and response components, so write-only and read-only fields are exact.
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["integrations_hub.api.schema.only_api_v1"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "integrations_hub.api.schema.add_problem_responses",
    ],
}

urlpatterns = [
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(custom_settings=SCHEMA_SETTINGS), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("account/tokens/", views.token_page, name="tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke_view, name="token_revoke"),
    re_path(r"^api(?:/.*)?$", NotFoundView.as_view(), name="not_found"),
]
