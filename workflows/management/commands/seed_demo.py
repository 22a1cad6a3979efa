from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workflows.demo import DEMO_ADMIN, DEMO_EDITOR, demo_seed


class Command(BaseCommand):
    help = "Create the demo team, logins, sandbox connections and the demo workflow (safe to repeat)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--crm-url", default="http://127.0.0.1:8101")
        parser.add_argument("--helpdesk-url", default="http://127.0.0.1:8102")
        parser.add_argument("--poll-seconds", type=int, default=30)

    def handle(self, *args: Any, **options: Any) -> None:
        setup = demo_seed(
            crm_url=options["crm_url"],
            helpdesk_url=options["helpdesk_url"],
            poll_interval_seconds=options["poll_seconds"],
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: team {setup.team.name!r}, workflow {setup.workflow.name!r} "
                f"(every {setup.workflow.poll_interval_seconds} s).\n"
                f"  admin login:  {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}\n"
                f"  editor login: {DEMO_EDITOR[0]} / {DEMO_EDITOR[1]}"
            )
        )
