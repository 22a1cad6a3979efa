"""manage.py api_token create|list|revoke USERNAME: API tokens from the command line (e.g. for CI)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations_hub.api.tokens import token_create, token_list, token_revoke


class Command(BaseCommand):
    help = "Create, list or revoke a user's API tokens. `create` prints the key once, on stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a token and print its key")
        create.add_argument("username")
        create.add_argument("--name", default="API token", help="what the token is for")
        listing = actions.add_parser("list", help="list a user's tokens (never their keys)")
        listing.add_argument("username")
        listing.add_argument("--all", action="store_true", help="include revoked tokens")
        revoke = actions.add_parser("revoke", help="revoke a token by its id")
        revoke.add_argument("username")
        revoke.add_argument("token_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        if options["action"] == "create":
            if getattr(user, "membership", None) is None:
                raise CommandError(f"{user} is not a member of any team; the API would refuse the token.")
            created = token_create(user=user, name=options["name"])
            # Only the key on stdout, so `KEY=$(manage.py api_token create ...)` works.
            self.stdout.write(created.key)
            self.stderr.write(
                f"Created token {created.token.pk} ({created.token.name}); the key is shown once."
            )
        elif options["action"] == "list":
            for token in token_list(user=user, include_revoked=options["all"]):
                state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
                used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
                self.stdout.write(
                    f"{token.pk}\t{token.prefix}…\t{token.name}\tcreated {token.created_at:%Y-%m-%d %H:%M}"
                    f"\tlast used {used}\t{state}"
                )
        elif not token_revoke(user=user, token_id=options["token_id"]):
            raise CommandError(f"{user} has no active token {options['token_id']}.")
        else:
            self.stdout.write(f"Revoked token {options['token_id']}.")
