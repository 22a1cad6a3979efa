from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "integrations_hub.accounts"
    label = "accounts"
    verbose_name = "Teams and members"
