"""The chat dialect: Slack's Web API (`chat.postMessage` and friends) and incoming webhooks.

What makes Slack different, and is imitated here: the Web API answers errors with HTTP 200 and
`{"ok": false, "error": "channel_not_found"}` (only throttling is a real 429, with Retry-After), while
incoming webhooks answer plain text (`ok`, or `invalid_payload` / `channel_not_found` with a 4xx status).
Channels are addressed by id (`C0...`) or name; a bot can only post where it is a member; archived
channels refuse posts. Events API callbacks are signed with `X-Slack-Signature` (v0 HMAC-SHA256).
See docs/sandbox.md for the contract.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from connectors.sandbox import seed as demo
from connectors.sandbox.delivery import deliver, target_url
from connectors.sandbox.engine import (
    Dialect,
    HttpError,
    Request,
    Response,
    Router,
    Row,
    Tx,
    bearer_token,
    json_field,
    json_response,
    same_secret,
)

DEFAULT_TOKEN = "xoxb-demo-chat-bot-token"  # noqa: S105 - a demo credential, printed in the docs
DEFAULT_WEBHOOK_TOKEN = "DEMOhookTOKENalerts000001"  # noqa: S105
DEFAULT_SIGNING_SECRET = "demo0chat0signing0secret"  # noqa: S105
ARCHIVED_WEBHOOK_TOKEN = "ARCHIVEDhookTOKEN00000002"  # noqa: S105
DELETED_WEBHOOK_TOKEN = "DELETEDchannelTOKEN000003"  # noqa: S105
# A webhook whose channel has since been deleted: Slack answers it with 404 channel_not_found.
DELETED_CHANNEL = "C0DELETED1"
TEAM_ID = "T0DEMO0001"
TEAM_NAME = "Demo Workspace"
BOT_USER = "U0BOT00001"
BOT_ID = "B0BOT00001"
APP_ID = "A0DEMO0001"
MAX_TEXT = 40_000
MAX_BLOCKS = 50
MAX_PAGE = 1000


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    private: bool = False
    archived: bool = False
    member: bool = True  # whether the bot user has joined
    purpose: str = ""

    def describe(self) -> dict[str, Any]:
        created = (demo.SEED_ANCHOR_MS - 700 * 86_400_000) // 1000
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.private,
            "is_group": False,
            "is_im": False,
            "is_private": self.private,
            "is_archived": self.archived,
            "is_general": self.name == "general",
            "is_member": self.member,
            "created": created,
            "creator": "U0OWNER001",
            "name_normalized": self.name,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": self.purpose, "creator": "", "last_set": 0},
            "num_members": 12 if not self.private else 4,
        }


CHANNELS = (
    Channel("C0GENERAL1", "general", purpose="Company-wide announcements"),
    Channel("C0SALES001", "sales", purpose="Deals and customers"),
    Channel("C0SUPPORT1", "support", purpose="Escalations from the helpdesk"),
    Channel("C0ALERTS01", "alerts", purpose="Automated notifications"),
    Channel("C0RANDOM01", "random", member=False, purpose="Off-topic"),
    Channel("C0ARCHIVE1", "old-announcements", archived=True),
    Channel("G0LEADERS1", "leadership", private=True, member=False),
)
_BY_ID = {c.id: c for c in CHANNELS}
_BY_NAME = {c.name: c for c in CHANNELS}


def message_ts(row: Row) -> str:
    """Slack's message id: seconds.microseconds, unique per channel (here unique overall)."""
    return f"{row.created_ms // 1000}.{row.created_ms % 1000:03d}{row.id % 1000:03d}"


def slack_signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">`, Slack's request signature."""
    signed = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


class ChatDialect(Dialect):
    system = "chat"
    objects: ClassVar[Mapping[str, int]] = {"messages": 1}
    default_port = 8106

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--token", default=DEFAULT_TOKEN, help="the accepted bot token (xoxb-...)")
        parser.add_argument(
            "--webhook-token",
            default=DEFAULT_WEBHOOK_TOKEN,
            help="secret last part of the #alerts incoming webhook URL",
        )
        parser.add_argument(
            "--signing-secret", default=DEFAULT_SIGNING_SECRET, help="signs Events API callbacks"
        )

    @property
    def token(self) -> str:
        return str(self.options.get("token") or DEFAULT_TOKEN)

    @property
    def webhooks(self) -> dict[str, tuple[str, str]]:
        """Incoming webhook id -> (channel id, secret token of its URL)."""
        return {
            "B0HOOK0001": ("C0ALERTS01", str(self.options.get("webhook_token") or DEFAULT_WEBHOOK_TOKEN)),
            "B0HOOK0002": ("C0ARCHIVE1", ARCHIVED_WEBHOOK_TOKEN),
            "B0HOOK0003": (DELETED_CHANNEL, DELETED_WEBHOOK_TOKEN),
        }

    @property
    def signing_secret(self) -> str:
        return str(self.options.get("signing_secret") or DEFAULT_SIGNING_SECRET)

    def register(self, router: Router) -> None:
        router.add("POST", "/api/chat.postMessage", self.post_message)
        for method in ("GET", "POST"):
            router.add(method, "/api/auth.test", self.auth_test)
            router.add(method, "/api/conversations.list", self.conversations_list)
            router.add(method, "/api/conversations.history", self.conversations_history)
        # The webhook URL itself is the credential, so the route skips the bearer check.
        router.add("POST", "/services/{team}/{hook}/{secret}", self.incoming_webhook, auth=False)
        router.add("POST", "/_admin/events/deliver", self.admin_deliver, auth=False, admin=True)

    # -- errors and auth

    @staticmethod
    def api_error(error: str, status: int = 200, **extra: Any) -> Response:
        return json_response(status, {"ok": False, "error": error, **extra})

    @staticmethod
    def text(status: int, body: str) -> Response:
        # Slack's webhook answers are text/html, whatever they say.
        return Response(status, body.encode("utf-8"), {"Content-Type": "text/html"})

    def error(self, status: int, kind: str, message: str) -> Response:
        if kind == "fault" and status == 429:
            return self.api_error("ratelimited", 429)
        if kind in ("fault", "internal"):
            return self.api_error("internal_error" if status == 500 else "service_unavailable", status)
        if kind in ("not_found", "method_not_allowed"):
            return self.api_error("unknown_method", 404 if kind == "not_found" else 405)
        return self.api_error("invalid_arguments", status, detail=message)

    def _args(self, req: Request) -> dict[str, Any]:
        """Web API arguments from the query string and a JSON or form-encoded body."""
        args: dict[str, Any] = {k: v[-1] for k, v in req.query.items()}
        if not req.body.strip():
            return args
        content_type = (req.header("content-type") or "").lower()
        if "json" in content_type:
            try:
                body = json.loads(req.body)
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise HttpError(self.api_error("invalid_json")) from None
            if not isinstance(body, dict):
                raise HttpError(self.api_error("invalid_json"))
            args.update(body)
        else:
            try:
                args.update(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                raise HttpError(self.api_error("invalid_form_data")) from None
        return args

    def authenticate(self, req: Request) -> Response | None:
        token = bearer_token(req)
        if token is None:
            token = self._args(req).get("token")
        if not token:
            return self.api_error("not_authed")
        if not same_secret(str(token), self.token):
            return self.api_error("invalid_auth")
        return None

    @staticmethod
    def _channel(ref: Any) -> Channel | None:
        text = str(ref or "").strip().lstrip("#")
        return _BY_ID.get(text) or _BY_NAME.get(text.lower())

    # -- messages

    @staticmethod
    def _blocks(raw: Any) -> list[dict[str, Any]] | None:
        """The blocks of a message, or ValueError when they are not Block Kit blocks."""
        if raw is None or raw == "":
            return None
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raise ValueError("invalid_blocks_format") from None
        if not isinstance(raw, list) or len(raw) > MAX_BLOCKS:
            raise ValueError("invalid_blocks")
        for block in raw:
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                raise ValueError("invalid_blocks")
        return raw

    def _store(
        self,
        channel: Channel,
        text: str,
        blocks: list[dict[str, Any]] | None,
        thread_ts: str | None,
        via: str,
    ) -> Row:
        with self.store.write() as tx:
            return tx.insert(
                "messages",
                {
                    "channel": channel.id,
                    "text": text,
                    "blocks": blocks,
                    "thread_ts": thread_ts or None,
                    "via": via,
                },
                first_id=1,
            )

    @staticmethod
    def render(row: Row) -> dict[str, Any]:
        data = row.data
        message: dict[str, Any] = {
            "type": "message",
            "text": data.get("text") or "",
            "user": data.get("user") or BOT_USER,
            "ts": message_ts(row),
            "team": TEAM_ID,
        }
        if not data.get("user"):
            message.update(bot_id=BOT_ID, app_id=APP_ID)
        if data.get("blocks"):
            message["blocks"] = data["blocks"]
        if data.get("thread_ts"):
            message["thread_ts"] = data["thread_ts"]
        return message

    def post_message(self, req: Request) -> Response:
        args = self._args(req)
        channel = self._channel(args.get("channel"))
        if not args.get("channel"):
            return self.api_error("channel_not_found")
        if channel is None or (channel.private and not channel.member):
            # Private channels the bot is not in are invisible to it, so they "do not exist".
            return self.api_error("channel_not_found")
        if channel.archived:
            return self.api_error("is_archived")
        if not channel.member:
            return self.api_error("not_in_channel")
        try:
            blocks = self._blocks(args.get("blocks"))
        except ValueError as exc:
            return self.api_error(str(exc))
        text = str(args.get("text") or "")
        if not text and not blocks and not args.get("attachments"):
            return self.api_error("no_text")
        if len(text) > MAX_TEXT:
            return self.api_error("msg_too_long")
        row = self._store(channel, text, blocks, str(args.get("thread_ts") or "") or None, "api")
        body: dict[str, Any] = {
            "ok": True,
            "channel": channel.id,
            "ts": message_ts(row),
            "message": self.render(row),
        }
        content_type = (req.header("content-type") or "").lower()
        if "json" in content_type and "charset" not in content_type:
            body["warning"] = "missing_charset"
            body["response_metadata"] = {"warnings": ["missing_charset"]}
        return json_response(200, body)

    def incoming_webhook(self, req: Request) -> Response:
        hook = self.webhooks.get(req.params["hook"])
        if req.params["team"] != TEAM_ID or hook is None:
            return self.text(404, "no_service")
        channel_id, secret = hook
        if not same_secret(req.params["secret"], secret):
            return self.text(403, "invalid_token")
        raw = req.body
        if "json" not in (req.header("content-type") or "json").lower():
            # Old integrations post `payload=<json>` form-encoded.
            form = dict(parse_qsl(req.body.decode("utf-8", "replace")))
            raw = form.get("payload", "").encode("utf-8")
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self.text(400, "invalid_payload")
        if not isinstance(payload, dict):
            return self.text(400, "invalid_payload")
        try:
            blocks = self._blocks(payload.get("blocks"))
        except ValueError:
            return self.text(400, "invalid_blocks")
        text = str(payload.get("text") or "")
        if not text and not blocks and not payload.get("attachments"):
            return self.text(400, "no_text")
        channel = _BY_ID.get(channel_id)
        if channel is None:
            return self.text(404, "channel_not_found")
        if channel.archived:
            return self.text(410, "channel_is_archived")
        self._store(channel, text, blocks, str(payload.get("thread_ts") or "") or None, "webhook")
        return self.text(200, "ok")

    def auth_test(self, req: Request) -> Response:
        return json_response(
            200,
            {
                "ok": True,
                "url": "https://demo-workspace.slack.com/",
                "team": TEAM_NAME,
                "user": "hub-bot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            },
        )

    def conversations_list(self, req: Request) -> Response:
        args = self._args(req)
        types = {t.strip() for t in str(args.get("types") or "public_channel").split(",")}
        exclude_archived = str(args.get("exclude_archived") or "false").lower() in ("true", "1")
        channels = [
            c.describe()
            for c in CHANNELS
            if (
                ("private_channel" in types and c.private and c.member)
                or ("public_channel" in types and not c.private)
            )
            and not (exclude_archived and c.archived)
        ]
        return json_response(
            200, {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}
        )

    def conversations_history(self, req: Request) -> Response:
        args = self._args(req)
        channel = self._channel(args.get("channel"))
        if channel is None or (channel.private and not channel.member):
            return self.api_error("channel_not_found")
        if not channel.member:
            return self.api_error("not_in_channel")
        try:
            limit = max(1, min(int(args.get("limit") or 100), MAX_PAGE))
        except ValueError:
            return self.api_error("invalid_limit")
        before: int | None = None
        cursor = str(args.get("cursor") or "")
        if cursor:
            try:
                before = int(base64.urlsafe_b64decode(cursor + "==").decode().removeprefix("before:"))
            except ValueError:
                return self.api_error("invalid_cursor")
        where = f"{json_field('channel')} = ?"
        params: list[Any] = [channel.id]
        if before is not None:
            where += " AND id < ?"
            params.append(before)
        with self.store.read() as tx:
            rows = tx.select("messages", where, params, order_by="id DESC", limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            base64.urlsafe_b64encode(f"before:{rows[-1].id}".encode()).decode().rstrip("=") if more else ""
        )
        return json_response(
            200,
            {
                "ok": True,
                "messages": [self.render(r) for r in rows],
                "has_more": more,
                "response_metadata": {"next_cursor": next_cursor},
            },
        )

    # -- Events API callbacks

    def admin_deliver(self, req: Request) -> Response:
        """Send an Events API `message` callback for one stored message, signed as Slack signs it.

        Body: `{"url": ..., "ts": message ts (default: the newest message), "secret": (override),
        "timestamp": (override, unix seconds)}`.
        """
        url = target_url(req)
        payload = req.json_object()
        with self.store.read() as tx:
            rows = (
                tx.select("messages", order_by="id DESC", limit=1)
                if not payload.get("ts")
                else [r for r in tx.all("messages") if message_ts(r) == str(payload["ts"])]
            )
        if not rows:
            return json_response(404, {"ok": False, "error": "no such message to deliver"})
        message = self.render(rows[0])
        channel = _BY_ID.get(str(rows[0].data.get("channel")), CHANNELS[0])
        timestamp = int(payload.get("timestamp") or time.time())
        event = {
            "token": "deprecated-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": {
                **message,
                "channel": channel.id,
                "event_ts": message["ts"],
                "channel_type": "group" if channel.private else "channel",
            },
            "type": "event_callback",
            "event_id": f"Ev{hashlib.sha1(message['ts'].encode(), usedforsecurity=False).hexdigest()[:10].upper()}",
            "event_time": int(float(message["ts"])),
            "authorizations": [
                {"team_id": TEAM_ID, "user_id": BOT_USER, "is_bot": True, "is_enterprise_install": False}
            ],
        }
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        secret = str(payload.get("secret") or self.signing_secret)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": slack_signature(secret, timestamp, body),
        }
        delivery = deliver(url, body, headers)
        return json_response(200, delivery.as_json(body, headers, event_id=event["event_id"]))

    # -- seed and admin

    def seed(self, tx: Tx, count: int) -> dict[str, int]:
        data = demo.generate(count, "chat")
        templates = (
            ("C0SALES001", "Deal won with {company} :tada:"),
            ("C0SUPPORT1", "New escalation from {name} ({email})"),
            ("C0GENERAL1", "Welcome {name} to the customer advisory board!"),
            ("C0ALERTS01", "Sync finished: {name} updated in the CRM"),
        )
        for index, person in enumerate(sorted(data.people, key=lambda p: p.created_ms)):
            channel, template = templates[index % len(templates)]
            text = template.format(
                name=person.name,
                email=person.email,
                company=person.company.name if person.company else "a new customer",
            )
            values = {
                "channel": channel,
                "text": text,
                "blocks": None,
                "thread_ts": None,
                "via": "seed",
                "user": f"U0P{index + 1:07d}",
            }
            tx.insert(
                "messages", values, first_id=1, created_ms=person.created_ms, updated_ms=person.created_ms
            )
        return {"messages": len(data.people)}

    def admin_list(self, req: Request, object_: str) -> list[Any]:
        with self.store.read() as tx:
            return [
                {**self.render(r), "channel": r.data.get("channel"), "via": r.data.get("via")}
                for r in tx.all("messages")
            ]

    def admin_create(self, req: Request, object_: str, payload: dict[str, Any]) -> Response:
        channel = self._channel(payload.get("channel"))
        if channel is None:
            return json_response(400, {"ok": False, "error": "channel_not_found"})
        row = self._store(channel, str(payload.get("text") or ""), None, None, "admin")
        return json_response(201, {**self.render(row), "channel": channel.id})

    def admin_update(self, req: Request, object_: str, id_: int, payload: dict[str, Any]) -> Response:
        with self.store.write() as tx:
            row = tx.get("messages", id_)
            if row is None:
                return json_response(404, {"ok": False, "error": "message_not_found"})
            updated = tx.update(
                "messages", id_, {**row.data, "text": str(payload.get("text", row.data.get("text")))}
            )
        return json_response(200, {**self.render(updated), "channel": updated.data.get("channel")})
