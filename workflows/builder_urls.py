"""URLs of the builder, templates, export/import and health pages (included from integrations_hub.urls)."""

from __future__ import annotations

from django.urls import path

from workflows import builder_views as views
from workflows import health_views

urlpatterns = [
    path("workflows/new/", views.builder_new, name="workflow_new"),
    path("workflows/templates/", views.template_gallery, name="workflow_templates"),
    path("workflows/import/", views.workflow_import_view, name="workflow_import"),
    path("workflows/<int:workflow_id>/edit/", views.builder_edit, name="workflow_edit"),
    path("workflows/<int:workflow_id>/export/", views.workflow_export_view, name="workflow_export"),
    path("workflows/<int:workflow_id>/health/", health_views.workflow_health_page, name="workflow_health"),
    path(
        "connections/<int:connection_id>/health/",
        health_views.connection_health_page,
        name="connection_health",
    ),
    # The builder's fragments: each takes the whole builder form and returns one part of the page.
    path("workflows/builder/refresh/", views.builder_refresh, name="builder_refresh"),
    path("workflows/builder/suggest/", views.builder_suggest, name="builder_suggest"),
    path("workflows/builder/row/", views.builder_row_add, name="builder_row_add"),
    path("workflows/builder/row/refresh/", views.builder_row_refresh, name="builder_row_refresh"),
    path("workflows/builder/remove/", views.builder_remove, name="builder_remove"),
    path("workflows/builder/value/", views.builder_value_row, name="builder_value_row"),
    path("workflows/builder/condition/", views.builder_condition_add, name="builder_condition_add"),
    path("workflows/builder/preview/", views.builder_preview, name="builder_preview"),
    path("workflows/builder/steps/", views.builder_steps, name="builder_steps"),
]
