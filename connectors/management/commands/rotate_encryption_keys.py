"""Re-encrypt every connection's credentials with the newest key (the first of HUB_ENCRYPTION_KEYS).

Rotation: put the new key first in HUB_ENCRYPTION_KEYS (keep the old ones after it), deploy, run this
command, and once it reports no failures remove the old keys. Rows are rewritten in small
transactions with their row locked, so it can run while the hub works; running it twice is harmless.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from connectors.crypto import rotate
from connectors.models import Connection

DEFAULT_BATCH_SIZE = 200


class Command(BaseCommand):
    help = "Re-encrypt all stored connection credentials with the newest key of HUB_ENCRYPTION_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"rows per transaction (default {DEFAULT_BATCH_SIZE})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = int(options["batch_size"])
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        keys = list(settings.HUB_ENCRYPTION_KEYS)
        if not keys:
            raise CommandError(
                "HUB_ENCRYPTION_KEYS is not set: put the new key first and the old ones after it, then run "
                "this again. (The generated demo key file cannot be rotated.)"
            )
        newest = Fernet(keys[0].encode())
        counts = {"rotated": 0, "current": 0, "empty": 0, "failed": 0}
        failed_ids: list[int] = []
        last_id = 0
        while True:
            with transaction.atomic():
                # Keyset paging on the primary key: stable while rows are added, and each batch is
                # locked only for as long as it takes to rewrite it.
                rows = list(
                    Connection.objects.select_for_update()
                    .filter(pk__gt=last_id)
                    .order_by("pk")
                    .only("pk", "credentials_encrypted")[:batch_size]
                )
                for row in rows:
                    outcome = _rotate_row(row, newest)
                    counts[outcome] += 1
                    if outcome == "failed":
                        failed_ids.append(row.pk)
            if not rows:
                break
            last_id = rows[-1].pk
        failed_ids += self._rotate_webhook_secrets(newest)
        total = sum(counts.values())
        self.stdout.write(
            f"{total} connection(s): {counts['rotated']} re-encrypted, {counts['current']} already on the "
            f"newest key, {counts['empty']} without credentials, {counts['failed']} not decryptable."
        )
        if failed_ids:
            # Keep the old keys until these are fixed: removing them would lose these credentials.
            raise CommandError(
                "These connections could not be decrypted with any configured key and were left as they "
                f"are: {', '.join(str(pk) for pk in failed_ids)}. Do not remove old keys yet."
            )

    def _rotate_webhook_secrets(self, newest: Fernet) -> list[int]:
        """Webhook signing secrets are encrypted with the same keys, so they rotate with the credentials."""
        from workflows.models import Workflow

        rotated = failed = 0
        failed_ids: list[int] = []
        with transaction.atomic():
            for workflow in (
                Workflow.objects.select_for_update()
                .exclude(webhook_secret_encrypted="")
                .only("pk", "webhook_secret_encrypted")
            ):
                token = workflow.webhook_secret_encrypted
                try:
                    newest.decrypt(token.encode())
                    continue
                except InvalidToken:
                    pass
                try:
                    value = rotate(token)
                except InvalidToken:
                    failed += 1
                    failed_ids.append(-workflow.pk)
                    continue
                Workflow.objects.filter(pk=workflow.pk).update(webhook_secret_encrypted=value)
                rotated += 1
        self.stdout.write(f"{rotated} webhook signing secret(s) re-encrypted, {failed} not decryptable.")
        return failed_ids


def _rotate_row(row: Connection, newest: Fernet) -> str:
    token = row.credentials_encrypted
    if not token:
        return "empty"
    try:
        newest.decrypt(token.encode())
    except InvalidToken:
        pass
    else:
        return "current"
    try:
        rotated = rotate(token)
    except InvalidToken:
        return "failed"
    Connection.objects.filter(pk=row.pk).update(credentials_encrypted=rotated)
    return "rotated"
