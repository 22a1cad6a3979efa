from __future__ import annotations

from django.urls import path

from workflows.sync import editor_views, template_views, views

app_name = "sync"

urlpatterns = [
    path("", views.sync_index, name="sync_list"),
    path("new/", editor_views.sync_new, name="sync_new"),
    path("templates/<slug:key>/", template_views.sync_template_start, name="sync_template"),
    path("editor/refresh/", editor_views.sync_editor_refresh, name="sync_editor_refresh"),
    path("<int:sync_id>/", views.sync_detail, name="sync_detail"),
    path("<int:sync_id>/edit/", editor_views.sync_edit, name="sync_edit"),
    path("<int:sync_id>/toggle/", editor_views.sync_toggle, name="sync_toggle"),
    path("<int:sync_id>/run/", views.sync_run_now, name="sync_run_now"),
    path("runs/<int:run_id>/", views.sync_run_detail, name="sync_run_detail"),
    path("review/", views.review_queue, name="review_queue"),
    path("review/conflicts/<int:conflict_id>/resolve/", views.conflict_resolve, name="conflict_resolve"),
    path("review/conflicts/resolve/", views.conflicts_resolve_bulk, name="conflicts_resolve_bulk"),
    path("review/holds/<int:hold_id>/resolve/", views.hold_resolve_view, name="hold_resolve"),
]
