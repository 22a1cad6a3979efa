"""The one outbound HTTP layer. Every call a connector makes to an external system goes through here.

Centralising it means retries, throttling, timeouts, the SSRF guard, redirects and secret redaction
are decided once, and the stats a run records look the same for every connector. Nothing else in
the project imports `requests`.
"""

from __future__ import annotations

import base64
import ipaddress
import json as jsonlib
import logging
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeAlias, TypeVar
from urllib.parse import quote, quote_plus, urljoin, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from connectors.base import AuthenticationError, ConnectorError, RateLimit
from connectors.ratelimit import (
    ARRIVAL_ALLOWANCE_SECONDS,
    LocalGovernor,
    PathBudgets,
    RateGovernor,
    connection_key,
    current_budget,
    path_key,
    shared_governor,
    whole_seconds,
)

logger = logging.getLogger(__name__)

AuthHook = Callable[[MutableMapping[str, str]], None]
"""Adds authentication headers to the outgoing header dict, in place."""

SleepFn = Callable[[float], None]
ReauthenticateFn = Callable[[], None]
"""Called once after a 401 to get a fresh credential (the auth hook then sends it); raises if it cannot."""
ErrorMessageFn = Callable[["HttpResponse"], "str | None"]
"""Extracts the system's own error text from a failed response (None: use the generic extraction)."""

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
_T = TypeVar("_T")

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_RETRIES = 4
DEFAULT_ALLOWED_PRIVATE_HOSTS: tuple[str, ...] = ()
MAX_REDIRECTS = 5
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
# A Retry-After longer than this would park a worker for too long; we give up (transiently) and let
# the run be retried later instead.
MAX_RETRY_AFTER_SECONDS = 300.0
REDACTED = "[REDACTED]"
USER_AGENT = "IntegrationsHub/0.1 (+https://github.com/integrations-hub)"

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRYABLE_STATUSES = frozenset({408, 429})
_ERROR_SNIPPET_CHARS = 300

# Cloud metadata endpoints hand out instance credentials. They are refused even for allow-listed
# hosts, because no integration ever needs them and a mis-set allow-list must not expose them.
_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
# Hosts that only look like an IPv4 number in some spelling (decimal, octal, hex, short forms);
# the C resolver accepts those and so would requests, so the guard must parse them the same way.
_NUMERIC_HOST = re.compile(r"^[0-9a-fA-FxX.]+$")


def _setting(name: str, default: _T) -> _T:
    """Read a Django setting when Django is set up; fall back so the layer also works standalone."""
    try:
        return getattr(settings, name, default)
    except ImproperlyConfigured:
        return default


def redaction_variants(secrets: Iterable[str]) -> tuple[str, ...]:
    """Every spelling of each secret (as is and URL-encoded) to redact, longest first."""
    variants: set[str] = set()
    for secret in secrets:
        if not secret or not secret.strip():
            continue
        variants.update({secret, quote(secret), quote(secret, safe=""), quote_plus(secret)})
    # Longest first so a secret that contains another is not left half-replaced.
    return tuple(sorted(variants, key=len, reverse=True))


def _redact_variants(text: str, variants: Iterable[str]) -> str:
    for variant in variants:
        text = text.replace(variant, REDACTED)
    return text


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (also URL-encoded) in `text` with a marker."""
    return _redact_variants(text, redaction_variants(secrets))


# requests' own order for a CA bundle named in the environment; SSL_CERT_FILE (OpenSSL's) last.
_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
_MAX_TRANSPORTS = 32


@dataclass(frozen=True)
class Transport:
    """How to reach one origin, as the environment says: the proxies to use and the CA bundle to trust."""

    proxies: dict[str, str]
    verify: bool | str


def environment_transport(url: str) -> Transport:
    """The proxies (HTTP_PROXY/HTTPS_PROXY/ALL_PROXY, minus NO_PROXY matches) and the CA bundle
    (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE) the environment sets for `url`.

    These are what `requests` would look up on every call when a session trusts the environment; the
    client looks them up once per origin instead and hands them over explicitly.
    """
    proxies = {
        scheme: proxy
        for scheme, proxy in requests.utils.get_environ_proxies(url).items()
        if scheme != "no" and proxy
    }
    verify: bool | str = True
    if proxies or urlsplit(url).scheme != "http":
        # Plain HTTP without a proxy has no certificate to check; a bundle named there would only cost
        # requests a `stat` of the path on every call.
        for name in _CA_BUNDLE_VARIABLES:
            value = os.environ.get(name)
            if value:
                verify = value
                break
    return Transport(proxies=proxies, verify=verify)


def bearer_auth(token: str) -> AuthHook:
    def hook(headers: MutableMapping[str, str]) -> None:
        headers["Authorization"] = f"Bearer {token}"

    return hook


def basic_auth_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def basic_auth(username: str, password: str) -> AuthHook:
    value = basic_auth_header(username, password)

    def hook(headers: MutableMapping[str, str]) -> None:
        headers["Authorization"] = value

    return hook


@dataclass(frozen=True)
class HttpResponse:
    """A finished response, independent of the HTTP library, with the body already read."""

    status: int
    reason: str
    headers: Mapping[str, str]
    text: str
    url: str
    elapsed_seconds: float
    data: Any = None
    """The parsed JSON body, or None when the body is empty or not JSON."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


class HttpError(ConnectorError):
    """A failed call. `response` is set when the system answered (so providers can read its error body)."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        response: HttpResponse | None = None,
    ) -> None:
        super().__init__(message, permanent=permanent, status=status)
        self.response = response

    @property
    def data(self) -> Any:
        return self.response.data if self.response is not None else None

    @property
    def text(self) -> str:
        return self.response.text if self.response is not None else ""


class HttpAuthenticationError(AuthenticationError):
    """401/403 from the system; still carries the response so providers can quote the system."""

    def __init__(self, message: str, *, status: int, response: HttpResponse) -> None:
        super().__init__(message, status=status)
        self.response = response


class BlockedDestinationError(ConnectorError):
    """The SSRF guard refused a destination. Permanent: retrying will not make the address public."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


@dataclass
class HttpStats:
    """Counters for everything a client sent, so a run can record how it talked to the system."""

    requests: int = 0
    retries: int = 0
    connection_errors: int = 0
    throttled: int = 0
    throttle_wait_seconds: float = 0.0
    backoff_wait_seconds: float = 0.0
    last_latency_ms: float | None = None
    total_latency_ms: float = 0.0
    status_counts: dict[int, int] = field(default_factory=dict)
    # A client may be used by more than one thread (a run reads its next page while writing this one).
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, status: int | None, latency_seconds: float) -> None:
        latency_ms = round(latency_seconds * 1000, 3)
        with self.lock:
            self.requests += 1
            self.last_latency_ms = latency_ms
            self.total_latency_ms += latency_ms
            if status is None:
                self.connection_errors += 1
            else:
                self.status_counts[status] = self.status_counts.get(status, 0) + 1

    def waited(self, seconds: float, *, throttled: bool, retry: bool) -> None:
        with self.lock:
            if retry:
                self.retries += 1
            if throttled:
                self.throttle_wait_seconds += seconds
            else:
                self.backoff_wait_seconds += seconds

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly copy (status keys as strings) for storing on a run."""
        return {
            "requests": self.requests,
            "retries": self.retries,
            "connection_errors": self.connection_errors,
            "throttled": self.throttled,
            "throttle_wait_seconds": round(self.throttle_wait_seconds, 3),
            "backoff_wait_seconds": round(self.backoff_wait_seconds, 3),
            "last_latency_ms": self.last_latency_ms,
            "total_latency_ms": round(self.total_latency_ms, 3),
            "status_counts": {str(k): v for k, v in sorted(self.status_counts.items())},
        }

    def reset(self) -> None:
        fresh = HttpStats()
        self.__dict__.update(fresh.__dict__)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent or bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """IPv4 address smuggled inside an IPv6 one (6to4, Teredo, NAT64), which the network may route to."""
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why the guard refuses `address`, or None when it is a public unicast address."""
    if address in _METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            # Mapped addresses reach the IPv4 stack; public services never publish them, so refuse all.
            return "IPv4-mapped IPv6"
        embedded = _embedded_ipv4(address)
        if embedded is not None and forbidden_reason(embedded) is not None:
            return f"IPv6 wrapping a non-public IPv4 ({embedded})"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "non-public"
    return None


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, parsing numeric spellings the way the OS resolver does."""
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        # Scoped IPv6 addresses come back as "fe80::1%eth0"; the scope is irrelevant to the check.
        raw = str(sockaddr[0]).split("%", 1)[0]
        addresses.append(ipaddress.ip_address(raw))
    return addresses


def check_destination(url: str, allowed_private_hosts: Iterable[str]) -> None:
    """Refuse URLs whose host resolves to a non-public address, unless the host is allow-listed.

    This is a minimal guard: the OS resolves again when connecting, so a DNS answer that changes in
    between (rebinding) is not caught. It stops configured or redirected URLs that point inward.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedDestinationError(f"Refusing {parts.scheme or 'scheme-less'} URL: only http and https.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BlockedDestinationError("Refusing a URL without a host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BlockedDestinationError(f"Refusing {host}: the port is not valid.") from None
    allowed = {h.strip().lower().rstrip(".") for h in allowed_private_hosts if h.strip()}
    if host in allowed:
        literal = _literal_address(host)
        if literal is not None and literal in _METADATA_ADDRESSES:
            raise BlockedDestinationError(f"Refusing {host}: cloud metadata addresses are never allowed.")
        return
    try:
        addresses = resolve_host(host, port)
    except (OSError, UnicodeError) as exc:
        raise HttpError(f"Cannot resolve host {host}: {exc}", permanent=False) from None
    if not addresses:
        raise HttpError(f"Cannot resolve host {host}: no addresses.", permanent=False)
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is not None:
            raise BlockedDestinationError(
                f"Refusing to connect to {host} ({address}): it is a {reason} address. "
                "Add the host to HUB_HTTP_ALLOWED_PRIVATE_HOSTS if it is a system you trust."
            )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def default_error_message(response: HttpResponse) -> str | None:
    """The system's error text from common JSON error shapes."""
    data = response.data
    if isinstance(data, dict):
        for key in ("message", "error_description", "description", "error", "detail", "title"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, dict):
                nested = value.get("message") or value.get("title")
                if isinstance(nested, str) and nested.strip():
                    return nested.strip()
    return None


def _snippet(text: str) -> str:
    collapsed = " ".join(text.split())
    if len(collapsed) > _ERROR_SNIPPET_CHARS:
        return collapsed[:_ERROR_SNIPPET_CHARS] + "…"
    return collapsed


class HttpClient:
    """A pooled HTTP client for one connection.

    `request()` returns an `HttpResponse` when its status is expected (any 2xx by default) and raises
    `HttpError` / `HttpAuthenticationError` otherwise, after retrying what is worth retrying.

    Before every request (retries and redirect hops included) the rate-limit governor is asked for a
    slot in the connection's budget (`rate_limit`, shared by all processes under `connection_id`); a
    429 with Retry-After blocks that budget for everyone. A client without `connection_id` has a budget
    of its own. `reauthenticate` (OAuth) is called once after a 401, and the request is sent again.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: AuthHook | None = None,
        secrets: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        system: str = "The remote system",
        error_message: ErrorMessageFn | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        allowed_private_hosts: Iterable[str] | None = None,
        sleep: SleepFn = time.sleep,
        rng: random.Random | None = None,
        connection_id: int | None = None,
        rate_limit: RateLimit | None = None,
        governor: RateGovernor | None = None,
        reauthenticate: ReauthenticateFn | None = None,
        path_budgets: PathBudgets | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.reauthenticate = reauthenticate
        building = current_budget()
        if building is not None and connection_id is None and rate_limit is None:
            # Made by a connector's client inside Provider.client(): use that connection's budget.
            connection_id, rate_limit = building.connection_id, building.rate_limit
        if path_budgets is None and building is not None and building.connection_id == connection_id:
            path_budgets = building.paths
        self.rate_limit = rate_limit
        # Endpoints with a budget of their own (drawn from as well as the connection's).
        self.path_budgets: tuple[tuple[re.Pattern[str], str, RateLimit], ...] = tuple(
            (re.compile(pattern), pattern, limit) for pattern, limit in path_budgets or ()
        )
        if connection_id is not None:
            self.governor_key = connection_key(connection_id)
            self.governor: RateGovernor = governor or shared_governor()
        else:
            # Nobody else can share an anonymous budget, so it never needs Redis.
            self.governor_key = "anonymous"
            self.governor = governor or LocalGovernor()
        self.secrets: list[str] = [s for s in secrets if s]
        # What a requests Session would add, and the client's own.
        self.default_headers: dict[str, str] = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Accept-Encoding": requests.utils.DEFAULT_ACCEPT_ENCODING,
            "Connection": "keep-alive",
        }
        self.default_headers.update(headers or {})
        self.system = system
        self.error_message = error_message
        self.timeout = float(
            timeout if timeout is not None else _setting("HUB_HTTP_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)
        )
        self.max_retries = int(
            max_retries if max_retries is not None else _setting("HUB_HTTP_MAX_RETRIES", DEFAULT_MAX_RETRIES)
        )
        hosts = (
            allowed_private_hosts
            if allowed_private_hosts is not None
            else _setting("HUB_HTTP_ALLOWED_PRIVATE_HOSTS", DEFAULT_ALLOWED_PRIVATE_HOSTS)
        )
        self.allowed_private_hosts: tuple[str, ...] = tuple(hosts)
        self.sleep = sleep
        self.stats = HttpStats()
        self._rng = rng or random.Random()
        self._redaction = redaction_variants(self.secrets)
        self._session = requests.Session()
        # The environment is read once per origin (`_transport_for`), not by requests on every call
        # (proxies, .netrc, CA bundle). A .netrc is never consulted: credentials come from the connection.
        self._session.trust_env = False
        self._transports: dict[tuple[str, str, int | None], Transport] = {}
        self._base_origin = _origin(self.base_url)

    # -- public API --------------------------------------------------------------------------------

    def url_for(self, path: str) -> str:
        """Absolute URL for `path`; absolute URLs (e.g. a system's own next-page link) pass through."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def redact(self, text: str) -> str:
        return _redact_variants(text, self._redaction)

    def add_secret(self, secret: str) -> None:
        """Redact `secret` from now on (e.g. an OAuth access token obtained after the client was built)."""
        if secret and secret not in self.secrets:
            self.secrets.append(secret)
            self._redaction = redaction_variants(self.secrets)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        expected: Iterable[int] | None = None,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> HttpResponse:
        """Send a request, following redirects manually and retrying transient failures.

        `expected`: statuses to hand back instead of raising (default: any 2xx). Listing a retryable
        status (429, 5xx) there also turns off retrying it.
        `retries`: overrides HUB_HTTP_MAX_RETRIES for this call. Every method is retried, because the
        connectors only send idempotent writes (upserts, updates by id); pass `retries=0` for a
        write that must not be repeated.
        A 401 is answered by `reauthenticate` (when set) and the request sent once more.
        """
        expected_once = tuple(expected) if expected is not None else None

        def send() -> HttpResponse:
            return self._request(
                method,
                path,
                params=params,
                json=json,
                data=data,
                headers=headers,
                expected=expected_once,
                timeout=timeout,
                retries=retries,
            )

        try:
            return send()
        except HttpAuthenticationError as exc:
            if exc.status != 401 or self.reauthenticate is None:
                raise
        # The credential was refused (expired, or revoked early): get a new one, once. A second 401
        # is final, so a credential that never works cannot loop.
        self.reauthenticate()
        return send()

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        data: bytes | str | None,
        headers: Mapping[str, str] | None,
        expected: Iterable[int] | None,
        timeout: float | None,
        retries: int | None,
    ) -> HttpResponse:
        expected_set = frozenset(expected) if expected is not None else None
        method = method.upper()
        url = self.url_for(path)
        retry_budget = self.max_retries if retries is None else retries
        effective_timeout = self.timeout if timeout is None else timeout
        hops = 0
        while True:
            self._guard(url)
            response = self._send_with_retries(
                method,
                url,
                params=params,
                json=json,
                data=data,
                headers=headers,
                expected=expected_set,
                timeout=effective_timeout,
                retries=retry_budget,
            )
            location = response.header("Location")
            wants_redirect = expected_set is None or response.status not in expected_set
            if response.status in _REDIRECT_STATUSES and location and wants_redirect:
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise HttpError(
                        self.redact(
                            f"{self.system}: more than {MAX_REDIRECTS} redirects from {method} {path}."
                        ),
                        permanent=True,
                        status=response.status,
                        response=response,
                    )
                next_url = urljoin(url, location)
                if urlsplit(url).scheme == "https" and urlsplit(next_url).scheme != "https":
                    raise BlockedDestinationError(
                        self.redact(f"{self.system} redirected from https to an insecure URL ({next_url}).")
                    )
                # Browsers' (and requests') rules: 303 always, and 301/302 for POST, become a bodiless GET.
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    if method != "HEAD":
                        method = "GET"
                    json = None
                    data = None
                # The query string is already part of the Location URL.
                params = None
                url = next_url
                continue
            return self._check(method, url, response, expected_set)

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------------

    def _guard(self, url: str) -> None:
        try:
            check_destination(url, self.allowed_private_hosts)
        except BlockedDestinationError as exc:
            raise BlockedDestinationError(self.redact(exc.message)) from None
        except HttpError as exc:
            raise HttpError(self.redact(exc.message), permanent=exc.permanent) from None

    def _transport_for(self, url: str, origin: tuple[str, str, int | None]) -> Transport:
        transport = self._transports.get(origin)
        if transport is None:
            transport = environment_transport(url)
            # Redirects may name any number of origins; only the first few are remembered.
            if len(self._transports) < _MAX_TRANSPORTS:
                self._transports[origin] = transport
        return transport

    def _headers_for(
        self, url: str, extra: Mapping[str, str] | None, origin: tuple[str, str, int | None] | None = None
    ) -> dict[str, str]:
        headers = dict(self.default_headers)
        # Credentials only ever go to the configured origin, never to wherever a redirect points.
        if self.auth is not None and (origin or _origin(url)) == self._base_origin:
            self.auth(headers)
        headers.update(extra or {})
        return headers

    def _backoff(self, attempt: int) -> float:
        # Full jitter: spreads retries of many workers hitting the same outage.
        return self._rng.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2**attempt)))

    def _throttle(self, method: str, path: str, waited_until: float | None) -> list[tuple[str, str | None]]:
        """Wait for this request's slot in the connection's budget (shared by every process) and in the
        budget of its endpoint, if it has one. Returns the slots, to settle once the request is done."""
        budgets: list[tuple[str, RateLimit | None]] = [(self.governor_key, self.rate_limit)]
        budgets += [
            (path_key(self.governor_key, pattern), limit)
            for compiled, pattern, limit in self.path_budgets
            if compiled.search(path)
        ]
        not_before = 0.0
        # Each budget is asked not to count the request before the latest moment another one allows;
        # when a later budget pushes the moment back, the earlier ones are asked again (their slot would
        # otherwise stand for a moment the request is not sent at).
        for attempt in range(3):
            slots: list[tuple[str, str | None]] = []
            wait = not_before
            for key, limit in budgets:
                reservation = self.governor.acquire(
                    key,
                    limit,
                    max_wait=MAX_RETRY_AFTER_SECONDS,
                    waited_until=waited_until if key == self.governor_key else None,
                    not_before=wait,
                    in_flight=ARRIVAL_ALLOWANCE_SECONDS,
                )
                if not reservation.granted:
                    self._release(slots)
                    # The system asked for a pause longer than a worker should sleep: fail transiently so
                    # the run is retried later, without sending (and without using a slot).
                    raise HttpError(
                        self.redact(
                            f"{self.system} is rate limited for another "
                            f"{whole_seconds(reservation.wait_seconds)} s (it asked us to wait); "
                            f"{method} {path} was not sent."
                        ),
                        permanent=False,
                        status=429,
                    )
                slots.append((key, reservation.slot))
                wait = max(wait, reservation.wait_seconds)
            if len(budgets) == 1 or wait <= not_before + 0.05 or attempt == 2:
                break
            self._release(slots)
            not_before = wait
        if wait > 0:
            self.stats.waited(wait, throttled=True, retry=False)
            self.sleep(wait)
        return slots

    def _release(self, slots: list[tuple[str, str | None]]) -> None:
        for key, slot in slots:
            self.governor.cancel(key, slot)

    def _settle(self, slots: list[tuple[str, str | None]]) -> None:
        for key, slot in slots:
            self.governor.settle(key, slot)

    def _wait(self, seconds: float, *, throttled: bool) -> None:
        self.stats.waited(seconds, throttled=throttled, retry=True)
        if seconds > 0:
            self.sleep(seconds)

    def _send_with_retries(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        data: bytes | str | None,
        headers: Mapping[str, str] | None,
        expected: frozenset[int] | None,
        timeout: float,
        retries: int,
    ) -> HttpResponse:
        path = urlsplit(url).path or "/"
        origin = _origin(url)
        transport = self._transport_for(url, origin)
        attempt = 0
        # The end of a Retry-After block this client slept through itself (see the 429 branch).
        waited_until: float | None = None
        while True:
            slots = self._throttle(method, path, waited_until)
            started = time.monotonic()
            try:
                # Prepared here and handed to Session.send: Session.request would merge the session's
                # headers, hooks and proxies into every call (a third of this client's own CPU per
                # request), and this client sets all of them per request already.
                prepared = requests.Request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=self._headers_for(url, headers, origin),
                    cookies=self._session.cookies,
                ).prepare()
                raw = self._session.send(
                    prepared,
                    timeout=timeout,
                    allow_redirects=False,
                    proxies=transport.proxies,
                    verify=transport.verify,
                    stream=False,
                    cert=None,
                )
                # Reading the body inside the try: a connection dropped mid-body is a transient failure too.
                body = raw.content
            except requests.exceptions.SSLError as exc:
                self.stats.record(None, time.monotonic() - started)
                raise HttpError(
                    self.redact(f"{self.system}: TLS error on {method} {path}: {exc}"), permanent=True
                ) from None
            except (
                requests.exceptions.Timeout,
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                self.stats.record(None, time.monotonic() - started)
                kind = "timed out" if isinstance(exc, requests.exceptions.Timeout) else "connection failed"
                if attempt < retries:
                    wait = self._backoff(attempt)
                    logger.warning(
                        "%s",
                        self.redact(
                            f"{method} {url} {kind} (attempt {attempt + 1}/{retries + 1}); "
                            f"retrying in {wait:.2f}s"
                        ),
                    )
                    self._wait(wait, throttled=False)
                    attempt += 1
                    continue
                raise HttpError(
                    self.redact(
                        f"{self.system}: {method} {path} {kind} after {attempt + 1} attempt(s): {exc}"
                    ),
                    permanent=False,
                ) from None
            except requests.exceptions.RequestException as exc:
                # Invalid URL, bad headers and the like: a configuration problem that retrying won't fix.
                self.stats.record(None, time.monotonic() - started)
                raise HttpError(
                    self.redact(f"{self.system}: {method} {path} failed: {exc}"), permanent=True
                ) from None
            finally:
                # Answered, failed or refused: the server has seen this request, if ever, by now.
                self._settle(slots)

            elapsed = time.monotonic() - started
            self.stats.record(raw.status_code, elapsed)
            response = self._wrap(raw, body, elapsed)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s", self.redact(f"{method} {url} -> {response.status} in {elapsed * 1000:.1f} ms")
                )
            status = response.status
            retry_after = parse_retry_after(response.header("Retry-After")) if status in (429, 503) else None
            if status == 429:
                self.stats.throttled += 1
                if retry_after is not None:
                    # The limit is the account's: every process must hold back, not only this one,
                    # and also when this request is not retried. The next `_throttle` skips this
                    # block only because we sleep through it right below.
                    waited_until = self.governor.block(self.governor_key, retry_after)
            retryable = status in _RETRYABLE_STATUSES or status >= 500
            if not retryable or (expected is not None and status in expected) or attempt >= retries:
                return response
            if retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS:
                # Waiting that long would hold the worker hostage; surface a transient error instead.
                return response
            wait = retry_after if retry_after is not None else self._backoff(attempt)
            logger.warning(
                "%s",
                self.redact(
                    f"{method} {url} answered {status} (attempt {attempt + 1}/{retries + 1}); "
                    f"retrying in {wait:.2f}s"
                ),
            )
            self._wait(wait, throttled=status == 429)
            attempt += 1

    @staticmethod
    def _wrap(raw: requests.Response, body: bytes, elapsed: float) -> HttpResponse:
        # Decode ourselves: requests' charset sniffing is slow on large JSON bodies without a charset.
        try:
            text = body.decode(raw.encoding or "utf-8", errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        parsed: Any = None
        if text.strip():
            try:
                parsed = jsonlib.loads(text)
            except ValueError:
                parsed = None
        return HttpResponse(
            status=raw.status_code,
            reason=raw.reason or "",
            headers=dict(raw.headers),
            text=text,
            url=raw.url,
            elapsed_seconds=elapsed,
            data=parsed,
        )

    def _check(
        self, method: str, url: str, response: HttpResponse, expected: frozenset[int] | None
    ) -> HttpResponse:
        ok = response.ok if expected is None else response.status in expected
        if ok:
            return response
        status = response.status
        detail = None
        if self.error_message is not None:
            detail = self.error_message(response)
        if detail is None:
            detail = (
                default_error_message(response) or _snippet(response.text) or response.reason or "no details"
            )
        path = urlsplit(url).path or "/"
        message = self.redact(f"{self.system} answered {status} to {method} {path}: {detail}")
        if status in (401, 403):
            raise HttpAuthenticationError(message, status=status, response=response)
        permanent = 300 <= status < 500 and status not in _RETRYABLE_STATUSES
        raise HttpError(message, permanent=permanent, status=status, response=response)
