"""Move CSV uploads from the shared uploads folder into the folder of the connection that names them.

Uploads are kept per connection (uploads/connections/<id>/). Files uploaded before that sit directly
in uploads/ and are not read any more; run this once after upgrading. A file named by connections
of several teams is left in place and listed: upload it again on each connection's page.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from connectors.providers.csv_file.uploads import csv_uploads_move_shared


class Command(BaseCommand):
    help = "Move CSV uploads from the shared uploads folder into each connection's own folder."

    def handle(self, *args: Any, **options: Any) -> None:
        report = csv_uploads_move_shared()
        for name, ids in report.moved.items():
            self.stdout.write(f"moved {name} to connection(s) {', '.join(map(str, ids))}")
        for name, ids in report.ambiguous.items():
            self.stdout.write(
                f"left {name} in place: connections {', '.join(map(str, ids))} of several teams name it; "
                "upload it again on each connection's page"
            )
        self.stdout.write(f"{len(report.moved)} moved, {len(report.ambiguous)} left in place")
