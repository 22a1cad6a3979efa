from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path

from connectors import views as connector_views
from connectors import views_oauth as connector_oauth_views
from connectors import views_schema as connector_schema_views
from integrations_hub.accounts import views as account_views
from integrations_hub.audit import views as audit_views
from integrations_hub.health.views import healthz
from integrations_hub.metrics import metrics_view
from workflows import views as workflow_views
from workflows.intake import webhook_intake


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico on pages without an icon link (Django's own error pages): the icon."""
    return HttpResponsePermanentRedirect(static("hub/favicon.svg"))


urlpatterns = [
    path("", workflow_views.dashboard, name="dashboard"),
    path("favicon.ico", favicon, name="favicon"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("hooks/<str:token>", webhook_intake, name="webhook_intake"),
    path(
        "workflows/<int:workflow_id>/publish/", workflow_views.workflow_publish_view, name="workflow_publish"
    ),
    path("workflows/<int:workflow_id>/versions/", workflow_views.workflow_versions, name="workflow_versions"),
    path(
        "workflows/<int:workflow_id>/dead-letters/",
        workflow_views.workflow_dead_letters,
        name="workflow_dead_letters",
    ),
    path("runs/<int:run_id>/replay/", workflow_views.run_replay_view, name="run_replay"),
    path("workflows/<int:workflow_id>/upload/", workflow_views.workflow_upload, name="workflow_upload"),
    path("runs/<int:run_id>/confirm/", workflow_views.run_confirm_view, name="run_confirm"),
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("team/", account_views.team_detail, name="team"),
    path("team/audit/", audit_views.audit_log, name="audit_log"),
    path("team/members/", account_views.member_add, name="member_add"),
    path("team/members/<int:membership_id>/role/", account_views.member_role, name="member_role"),
    path("workflows/<int:workflow_id>/", workflow_views.workflow_detail, name="workflow_detail"),
    path("workflows/<int:workflow_id>/run/", workflow_views.workflow_run_now, name="workflow_run_now"),
    path("workflows/<int:workflow_id>/toggle/", workflow_views.workflow_toggle, name="workflow_toggle"),
    path("runs/", workflow_views.run_index, name="run_list"),
    path("runs/<int:run_id>/", workflow_views.run_detail, name="run_detail"),
    path("runs/<int:run_id>/status/", workflow_views.run_status, name="run_status"),
    path("runs/<int:run_id>/records/", workflow_views.run_record_log, name="run_records"),
    path("connections/", connector_views.connection_index, name="connection_list"),
    path("connections/new/", connector_views.connection_new, name="connection_new"),
    path("connections/<int:connection_id>/", connector_views.connection_detail, name="connection_detail"),
    path("connections/<int:connection_id>/edit/", connector_views.connection_edit, name="connection_edit"),
    path(
        "connections/<int:connection_id>/upload/", connector_views.connection_upload, name="connection_upload"
    ),
    path(
        "connections/<int:connection_id>/delete/",
        connector_views.connection_delete_view,
        name="connection_delete",
    ),
    path(
        "connections/<int:connection_id>/test/", connector_views.connection_test_view, name="connection_test"
    ),
    path(
        "connections/<int:connection_id>/schema/",
        connector_schema_views.connection_schema,
        name="connection_schema",
    ),
    path(
        "connections/<int:connection_id>/schema/<str:object_name>/refresh/",
        connector_schema_views.connection_schema_refresh,
        name="connection_schema_refresh",
    ),
    path("connections/oauth/<str:kind>/", connector_oauth_views.oauth_connect, name="oauth_connect"),
    path(
        "connections/oauth/<str:kind>/callback/", connector_oauth_views.oauth_callback, name="oauth_callback"
    ),
    path(
        "connections/<int:connection_id>/reconnect/",
        connector_oauth_views.oauth_reconnect,
        name="oauth_reconnect",
    ),
    # The workflow builder, templates, export/import and the health pages.
    path("", include("workflows.builder_urls")),
    # The REST API under /api/ (with its docs) and the API token page /account/tokens/.
    path("", include("integrations_hub.api.urls")),
    # Two-way syncs and the admins' review queue.
    path("syncs/", include("workflows.sync.urls")),
]
