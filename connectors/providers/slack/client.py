"""Slack client: post messages, with a bot token (Web API) or an incoming webhook URL.

Slack is an action target here, not a source: its "object" is `messages`, which can be posted but not
read. Each message is one request, sent at most once: Slack has no idempotency keys, so a timeout or a
5xx is not retried (the message may have been posted); only a 429 is waited out and sent again. The
Web API reports errors with HTTP 200 and `{"ok": false, "error": "<code>"}`; incoming webhooks answer
plain text with a 4xx status. Both are turned into one sentence a person can act on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from connectors.base import (
    AuthenticationError,
    ChangePage,
    ConnectionConfig,
    ConnectionSettings,
    ConnectorClient,
    ConnectorError,
    FieldSchema,
    ObjectSchema,
    PicklistOption,
    WriteItem,
    WriteResult,
)
from connectors.http import HttpAuthenticationError, HttpClient, HttpError, HttpResponse, bearer_auth
from connectors.providers.single_send import send_once

logger = logging.getLogger(__name__)

SLACK_API_URL = "https://slack.com"
OBJECTS: dict[str, str] = {"messages": "Messages"}
MAX_TEXT = 40_000
# Web API error codes that mean the credential, not the message, is the problem.
AUTH_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "no_permission",
        "missing_scope",
    }
)
# Webhook answers that mean the URL itself is dead.
WEBHOOK_AUTH_ERRORS = frozenset({"invalid_token", "no_service", "no_service_id", "no_team", "team_disabled"})
EXPLANATIONS = {
    "channel_not_found": "the channel does not exist, or it is private and the app has not been invited",
    "not_in_channel": "the app is not a member of this channel; invite it with /invite",
    "is_archived": "the channel is archived",
    "channel_is_archived": "the channel is archived",
    "msg_too_long": f"the text is longer than Slack's {MAX_TEXT:,} characters",
    "no_text": "the message has neither text nor blocks",
    "invalid_blocks": "the blocks are not valid Block Kit",
    "invalid_blocks_format": "the blocks are not a JSON array",
    "invalid_payload": "Slack could not read the message (not valid JSON)",
    "action_prohibited": "an admin has restricted posting to this channel",
    "posting_to_general_channel_denied": "only admins may post to this channel",
    "restricted_action": "the workspace does not allow this app to post here",
    "ratelimited": "Slack is throttling this app",
}


class SlackConfig(ConnectionConfig):
    base_url: str = SLACK_API_URL
    # Used when a message does not name its channel (bot tokens only; a webhook has a fixed channel).
    default_channel: str = ""


def explain(code: str) -> str:
    reason = EXPLANATIONS.get(code)
    return (
        f"Slack refused the message: {code} ({reason})." if reason else f"Slack refused the message: {code}."
    )


def slack_message(response: HttpResponse) -> str | None:
    data = response.data
    if isinstance(data, dict) and data.get("error"):
        return explain(str(data["error"]))
    text = response.text.strip()
    return explain(text) if text and len(text) < 80 and " " not in text else None


class SlackClient(ConnectorClient):
    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.config = SlackConfig.model_validate(dict(settings.config))
        credential = (settings.credentials.get("bot_token_or_webhook_url", "") or "").strip()
        # One credential field: a URL is an incoming webhook, anything else is a bot token.
        self.webhook_url = credential if urlsplit(credential).scheme in ("http", "https") else ""
        self._token = "" if self.webhook_url else credential
        secrets = [credential]
        if self.webhook_url:
            # The last part of a webhook URL is its secret; keep it out of every message too.
            secrets.append(urlsplit(self.webhook_url).path.rsplit("/", 1)[-1])
        self.http = HttpClient(
            self.config.base_url,
            auth=self._authenticate if self._token else None,
            secrets=secrets,
            system="Slack",
            error_message=slack_message,
            connection_id=settings.connection_id,
            rate_limit=settings.rate_limit,
        )

    def _authenticate(self, headers: MutableMapping[str, str]) -> None:
        bearer_auth(self._token)(headers)

    # -- contract ----------------------------------------------------------------------------------

    def test(self) -> str:
        if not self.webhook_url and not self._token:
            raise AuthenticationError("No Slack bot token or webhook URL is configured.", status=None)
        if self.webhook_url:
            return self._test_webhook()
        data = self._call("auth.test", {})
        return f"{data.get('user') or 'bot'} in {data.get('team') or 'Slack'} ({data.get('url') or 'Slack'})"

    def _test_webhook(self) -> str:
        # An empty message is refused with `no_text` by a live webhook and `no_service` / `invalid_token`
        # by a dead one, so the URL is checked without posting anything.
        try:
            send_once(self.http, "POST", self.webhook_url, json={})
        except HttpAuthenticationError as exc:
            raise self._dead_webhook(exc.response.text.strip() or str(exc.status), exc.status) from None
        except HttpError as exc:
            code = exc.text.strip()
            if exc.status == 400 and code in ("no_text", "invalid_payload"):
                host = urlsplit(self.webhook_url).hostname or "Slack"
                return f"Incoming webhook at {host} (posts to its own channel)"
            if code in WEBHOOK_AUTH_ERRORS or exc.status == 404:
                raise self._dead_webhook(code or str(exc.status), exc.status) from None
            raise
        raise ConnectorError(
            "Slack accepted an empty message; this URL does not behave like a webhook.", permanent=True
        )

    def discover_schema(self, object_name: str) -> ObjectSchema:
        self._check(object_name)
        fields = [
            FieldSchema("text", "Text", "string", required=True),
            FieldSchema("blocks", "Blocks (Block Kit JSON)", "json"),
            FieldSchema("thread_ts", "Reply in thread (message ts)", "string"),
            FieldSchema("unfurl_links", "Unfurl links", "boolean"),
            FieldSchema("mrkdwn", "Format as mrkdwn", "boolean"),
        ]
        if not self.webhook_url:
            channels = self._channels()
            fields.insert(
                0,
                FieldSchema(
                    "channel",
                    "Channel",
                    "enumeration",
                    required=not self.config.default_channel,
                    options=tuple(PicklistOption(c["id"], f"#{c['name']}") for c in channels),
                ),
            )
        return ObjectSchema(name=object_name, label=OBJECTS[object_name], fields=tuple(fields))

    def list_changes(
        self, object_name: str, cursor: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        self._check(object_name)
        raise ConnectorError("Slack messages can be posted but not read by this connector.", permanent=True)

    def upsert_batch(
        self, object_name: str, items: list[WriteItem], *, match_field: str
    ) -> list[WriteResult]:
        """Post each item as a new message (`match_field` does not apply: messages are never updated)."""
        self._check(object_name)
        results: list[WriteResult] = []
        stopped: str | None = None
        for item in items:
            if stopped is not None:
                results.append(WriteResult(key=item.key, ok=False, error=stopped))
                continue
            try:
                results.append(self._post(item))
            except AuthenticationError:
                raise
            except ConnectorError as exc:
                if exc.permanent:
                    raise
                # A 429 was not posted; after a timeout or a 5xx Slack may have posted it. Either way
                # the rest are not sent now, so that retrying the batch cannot post anything twice.
                doubt = (
                    "" if exc.status == 429 else " The message may have been posted; it is not sent again."
                )
                results.append(WriteResult(key=item.key, ok=False, error=f"{exc.message}{doubt}"))
                stopped = f"Not sent: Slack failed on an earlier message of this batch ({exc.message})"
        return results

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _check(object_name: str) -> None:
        if object_name not in OBJECTS:
            raise ConnectorError(
                f"Slack has no object {object_name!r}; this connector posts messages.", permanent=True
            )

    def _call(self, method: str, payload: dict[str, Any], *, write: bool = False) -> dict[str, Any]:
        """A Web API call; `ok: false` becomes AuthenticationError or `_Refused` (HTTP 200 either way).

        Writes go as a JSON body and at most once; reads as GET query parameters (Slack takes JSON
        bodies for writing methods only), retried like any idempotent call.
        """
        try:
            if write:
                response = send_once(self.http, "POST", f"/api/{method}", json=payload)
            else:
                params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in payload.items()}
                response = self.http.get(f"/api/{method}", params=params)
        except HttpAuthenticationError as exc:
            raise AuthenticationError(
                f"Slack rejected the bot token: {exc.message}", status=exc.status
            ) from None
        data = response.data if isinstance(response.data, dict) else {}
        if data.get("ok"):
            return data
        code = str(data.get("error") or "unknown_error")
        if code in AUTH_ERRORS:
            raise AuthenticationError(f"Slack rejected the bot token: {code}.", status=None)
        raise _Refused(explain(code))

    def _channels(self) -> list[dict[str, Any]]:
        """Channels the bot can post in: member, not archived (Slack's `conversations.list`)."""
        channels: list[dict[str, Any]] = []
        cursor = ""
        while True:
            payload: dict[str, Any] = {
                "types": "public_channel,private_channel",
                "exclude_archived": True,
                "limit": 200,
            }
            if cursor:
                payload["cursor"] = cursor
            data = self._call("conversations.list", payload)
            channels.extend(
                c
                for c in data.get("channels") or []
                if isinstance(c, dict) and c.get("is_member") and not c.get("is_archived")
            )
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return channels

    def _message(self, item: WriteItem) -> dict[str, Any]:
        message = {
            k: v
            for k, v in item.fields.items()
            if k in ("text", "blocks", "thread_ts", "unfurl_links", "mrkdwn")
        }
        unknown = sorted(set(item.fields) - set(message) - {"channel"})
        if unknown:
            raise _Refused(f"Slack messages have no field {', '.join(unknown)}; the message was not posted.")
        if message.get("text") is not None:
            message["text"] = str(message["text"])
        return message

    def _post(self, item: WriteItem) -> WriteResult:
        try:
            message = self._message(item)
            if self.webhook_url:
                if item.fields.get("channel"):
                    raise _Refused(
                        "This connection posts through an incoming webhook, which always posts to its own "
                        "channel; remove the channel mapping or connect with a bot token."
                    )
                self._post_webhook(message)
                return WriteResult(key=item.key, ok=True, action="created")
            channel = str(item.fields.get("channel") or self.config.default_channel or "").strip()
            if not channel:
                raise _Refused("No channel to post to; map one or set a default channel on the connection.")
            data = self._call("chat.postMessage", {"channel": channel, **message}, write=True)
        except _Refused as exc:
            return WriteResult(key=item.key, ok=False, error=self.http.redact(str(exc)))
        return WriteResult(
            key=item.key, ok=True, target_id=f"{data.get('channel')}:{data.get('ts')}", action="created"
        )

    @staticmethod
    def _dead_webhook(code: str, status: int | None) -> AuthenticationError:
        return AuthenticationError(
            f"Slack rejected the webhook URL: {code} (the webhook was removed, or the URL is mistyped).",
            status=status,
        )

    def _post_webhook(self, message: dict[str, Any]) -> None:
        try:
            send_once(self.http, "POST", self.webhook_url, json=message)
        except HttpAuthenticationError as exc:
            code = exc.response.text.strip()
            if code in WEBHOOK_AUTH_ERRORS or not code:
                raise self._dead_webhook(code or str(exc.status), exc.status) from None
            # 403 action_prohibited and the like concern this message's channel, not the URL.
            raise _Refused(explain(code)) from None
        except HttpError as exc:
            code = exc.text.strip()
            if code in WEBHOOK_AUTH_ERRORS:
                raise self._dead_webhook(code, exc.status) from None
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                raise _Refused(explain(code or str(exc.status))) from None
            raise


class _Refused(Exception):
    """Slack refused one message; the batch goes on with the others."""
