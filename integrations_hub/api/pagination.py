from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class ApiPagination(LimitOffsetPagination):
    """`?limit=&offset=`; the page size is bounded so one request cannot read a whole table."""

    default_limit = 25
    max_limit = 100
