from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.urls import reverse

from integrations_hub.accounts.models import Membership


def test_admin_adds_a_member_to_their_own_team(client: Any, admin_user: Any, team: Any) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("member_add"), {"username": "newbie", "password": "a-long-passphrase", "role": "editor"}
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user__username="newbie")
    assert membership.team == team
    assert membership.role == "editor"
    assert client.login(username="newbie", password="a-long-passphrase")


def test_editor_cannot_manage_the_team(editor_client: Any, admin_user: Any) -> None:
    response = editor_client.post(
        reverse("member_add"), {"username": "x", "password": "a-long-passphrase", "role": "admin"}
    )
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="x").exists()
    target = Membership.objects.get(user=admin_user)
    assert editor_client.post(reverse("member_role", args=[target.pk]), {"role": "editor"}).status_code == 403
    target.refresh_from_db()
    assert target.role == "admin"
    assert editor_client.get(reverse("team")).status_code == 200


def test_admin_of_another_team_cannot_change_our_roles(outsider_client: Any, editor: Any) -> None:
    target = Membership.objects.get(user=editor)
    assert (
        outsider_client.post(reverse("member_role", args=[target.pk]), {"role": "admin"}).status_code == 404
    )
    target.refresh_from_db()
    assert target.role == "editor"


def test_the_last_admin_cannot_be_demoted(client: Any, admin_user: Any) -> None:
    client.force_login(admin_user)
    me = Membership.objects.get(user=admin_user)
    client.post(reverse("member_role", args=[me.pk]), {"role": "editor"})
    me.refresh_from_db()
    assert me.role == "admin"


def test_bad_member_input_is_shown_next_to_the_field(client: Any, admin_user: Any) -> None:
    client.force_login(admin_user)
    response = client.post(
        reverse("member_add"), {"username": admin_user.username, "password": "short", "role": "editor"}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "This username is taken." in body
    assert "too short" in body


def test_login_and_logout(client: Any, editor: Any) -> None:
    response = client.post(reverse("login"), {"username": editor.username, "password": "pw-for-tests"})
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("dashboard")).status_code == 302
