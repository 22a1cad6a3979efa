"""A bare Django view that stores the body and answers 202: what intake costs with no logic at all."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

TABLE_SQL = "CREATE TABLE IF NOT EXISTS bench_bare_event (id {pk}, body {blob} NOT NULL)"


def create_table() -> None:
    pk, blob = (
        ("bigserial PRIMARY KEY", "bytea")
        if connection.vendor == "postgresql"
        else ("integer PRIMARY KEY", "blob")
    )
    with connection.cursor() as cursor:
        cursor.execute(TABLE_SQL.format(pk=pk, blob=blob))


@csrf_exempt
def bare(request: HttpRequest, token: str) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_bare_event (body) VALUES (%s)", [request.body])
    return JsonResponse({"status": "stored"}, status=202)


urlpatterns = [path("hooks/<str:token>", bare)]
