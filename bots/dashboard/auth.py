"""Who may use the dashboard: one moderators' password, server-side sessions, CSRF tokens, a login limiter.

Why this shape:

* One shared password (a moderators' team, not user accounts), stored only
  as an scrypt hash (``hashlib.scrypt``: the stdlib, no extra dependency).
  A plain ``password`` (``${LIVEROOM_DASHBOARD_PASSWORD}``) is hashed in
  memory at start-up and never kept, logged or shown in ``repr``. The login
  form also asks for a name, which is what the moderation log records.
* Sessions are random 32-byte tokens held in memory with their expiry. A
  restart logs everyone out, which for a bot's dashboard is a feature: no
  session store to leak, nothing to revoke. Only a SHA-256 of the token is
  kept as the key, so the table never holds a usable cookie.
* Every form carries the session's CSRF token, and every POST must also come
  from our own origin (Origin, else Referer): two independent checks, on top
  of ``SameSite=Strict`` cookies.
* Failed logins are counted per client address in a sliding window; past the
  limit the login answers 429 with ``Retry-After`` before any hashing, so a
  guesser cannot burn the bot's CPU either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["DashboardSettings", "DashboardConfigError", "hash_password", "verify_password", "Session",
           "SessionStore", "LoginLimiter", "Authenticator", "same_origin", "SCRYPT_N", "SCRYPT_R", "SCRYPT_P"]

#: scrypt cost: 2**14 × 8 × 128 bytes = 16 MiB and ~50 ms per hash on one core (OWASP's minimum).
SCRYPT_N = 2 ** 14
SCRYPT_R = 8
SCRYPT_P = 1
_DKLEN = 32
_SALT_BYTES = 16
#: Refuse to evaluate hashes that ask for absurd work or memory (a hand-edited config).
_MAX_N = 2 ** 20
#: Sessions kept at most; the oldest goes first (each login makes one).
_MAX_SESSIONS = 1000
#: Client addresses the limiter remembers at most.
_MAX_CLIENTS = 10000


class DashboardConfigError(ValueError):
    """The dashboard cannot start as configured (no usable password)."""


class DashboardSettings(BaseModel):
    """The ``dashboard:`` section of config.yaml (docs/dashboard.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    host: str = Field("127.0.0.1", min_length=1, description="listen address; keep it loopback behind a TLS proxy")
    port: int = Field(8700, ge=0, le=65535, description="0 picks a free port")
    password_hash: str = Field("", repr=False, description="scrypt$n$r$p$salt$hash from `liveroom dashboard hash-password`")
    password: str = Field("", repr=False, description="or write ${LIVEROOM_DASHBOARD_PASSWORD}; hashed at start-up")
    session_hours: float = Field(12, gt=0, le=24 * 30, description="a login lasts this long")
    secure_cookies: bool = Field(True, description="Secure cookies (HTTPS, or http://localhost in browsers)")
    metrics_token: str = Field("", repr=False, description="write ${LIVEROOM_METRICS_TOKEN}: /metrics by bearer token")
    login_attempts: int = Field(5, ge=1, le=1000, description="failed logins per address within the window")
    login_window_s: float = Field(300, gt=0, le=86400)
    trusted_proxies: tuple[str, ...] = Field((), description="reverse proxies (IPs or CIDR networks) whose "
                                             "X-Forwarded-For is believed; empty: the socket's peer address")

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError("each entry must be an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)") from None
        return value

    @model_validator(mode="after")
    def _usable_password(self) -> "DashboardSettings":
        if self.password_hash and _parse(self.password_hash) is None:
            raise ValueError("password_hash is not of the form scrypt$n$r$p$salt$hash: "
                             "make one with `liveroom dashboard hash-password`")
        if self.enabled and not (self.password_hash or self.password):
            raise ValueError("the dashboard needs a password: write password_hash: from "
                             "`liveroom dashboard hash-password` in this section, or password: "
                             "${LIVEROOM_DASHBOARD_PASSWORD} and set that environment variable")
        return self


# ---- password hashing ------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(plain: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$n$r$p$salt_b64$hash_b64`` for ``plain`` (what ``liveroom dashboard hash-password`` prints)."""
    if not plain:
        raise ValueError("the password is empty")
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(plain, salt, n, r, p)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def _scrypt(plain: str, salt: bytes, n: int, r: int, p: int, dklen: int = _DKLEN) -> bytes:
    return hashlib.scrypt(plain.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen,
                          maxmem=256 * r * n * p + 2 ** 20)


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = encoded.strip().split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    if n < 2 or n > _MAX_N or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16 or not salt or len(digest) < 16:
        return None
    return n, r, p, salt, digest


def verify_password(plain: str, encoded: str) -> bool:
    """Whether ``plain`` matches the hash; False for a malformed hash. Constant-time comparison."""
    parsed = _parse(encoded)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    return hmac.compare_digest(_scrypt(plain, salt, n, r, p, len(digest)), digest)


# ---- sessions --------------------------------------------------------------------------------

@dataclass
class Session:
    """One logged-in browser."""

    name: str          # who, as they typed it at login: the moderation log's actor name
    csrf: str          # goes in every form; compared on every POST
    created: float
    expires: float
    flashes: list[tuple[str, str]] = field(default_factory=list)  # (level, text) shown once on the next page

    @property
    def actor_key(self) -> str:
        """The moderation log's actor key for dashboard decisions."""
        return f"dashboard:{self.name}"

    def flash(self, text: str, level: str = "info") -> None:
        self.flashes.append((level, text))
        del self.flashes[:-5]

    def take_flashes(self) -> list[tuple[str, str]]:
        out, self.flashes = self.flashes, []
        return out


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class SessionStore:
    """Sessions in memory, keyed by a hash of their token, with an absolute expiry."""

    def __init__(self, lifetime_s: float, *, clock: Callable[[], float] = time.time,
                 max_sessions: int = _MAX_SESSIONS) -> None:
        self.lifetime_s = lifetime_s
        self.clock = clock
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, name: str) -> tuple[str, Session]:
        """A new session for ``name``: (the cookie's token, the session)."""
        now = self.clock()
        self._purge(now)
        token = secrets.token_urlsafe(32)
        session = Session(name=name, csrf=secrets.token_urlsafe(32), created=now, expires=now + self.lifetime_s)
        self._sessions[_key(token)] = session
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token or len(token) > 256:
            return None
        key = _key(token)
        session = self._sessions.get(key)
        if session is None:
            return None
        if session.expires <= self.clock():
            self._sessions.pop(key, None)
            return None
        return session

    def delete(self, token: str | None) -> None:
        if token:
            self._sessions.pop(_key(token), None)

    def _purge(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[key]


# ---- the login limiter ---------------------------------------------------------------------------

class LoginLimiter:
    """Failed logins per client address in a sliding window."""

    def __init__(self, attempts: int, window_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again; 0 when it may now."""
        failures = self._recent(client)
        if failures is None or len(failures) < self.attempts:
            return 0.0
        return max(0.0, failures[0] + self.window_s - self.clock())

    def failed(self, client: str) -> None:
        failures = self._recent(client)
        if failures is None:
            failures = self._failures[client] = deque()
            while len(self._failures) > _MAX_CLIENTS:
                self._failures.popitem(last=False)
        failures.append(self.clock())
        self._failures.move_to_end(client)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)

    def _recent(self, client: str) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        cutoff = self.clock() - self.window_s
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures


# ---- everything together ---------------------------------------------------------------------------

class Authenticator:
    """The password check, the sessions and the limiter for one dashboard."""

    def __init__(self, settings: DashboardSettings, *, clock: Callable[[], float] = time.time) -> None:
        encoded = settings.password_hash or (hash_password(settings.password) if settings.password else "")
        if not encoded:
            raise DashboardConfigError("the dashboard needs a password: set dashboard.password_hash "
                                       "(liveroom dashboard hash-password) or dashboard.password: "
                                       "${LIVEROOM_DASHBOARD_PASSWORD}")
        self._encoded = encoded
        self.settings = settings
        self.sessions = SessionStore(settings.session_hours * 3600, clock=clock)
        self.limiter = LoginLimiter(settings.login_attempts, settings.login_window_s)

    def __repr__(self) -> str:  # never the hash
        return f"Authenticator(sessions={len(self.sessions)})"

    def check_password(self, plain: str) -> bool:
        """Blocking (~50 ms of scrypt): call it in a thread."""
        return verify_password(plain, self._encoded)

    def check_metrics_token(self, authorization: str | None) -> bool:
        """Whether an ``Authorization: Bearer <token>`` header carries the configured metrics token."""
        token = self.settings.metrics_token
        if not token or not authorization:
            return False
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode("utf-8", "surrogatepass"), token.encode("utf-8"))

    @classmethod
    def check_csrf(cls, session: Session, given: str | None) -> bool:
        """Whether a form's token is the session's."""
        return cls.tokens_match(session.csrf, given)

    @staticmethod
    def tokens_match(expected: str | None, given: str | None) -> bool:
        """Constant-time equality of two non-empty tokens (a missing one never matches)."""
        if not expected or not given:
            return False
        return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass"))


def same_origin(host_header: str | None, origin: str | None, referer: str | None) -> bool:
    """Whether a POST comes from a page of this site: its Origin (else Referer) names the Host it was sent to.

    Scheme is not compared: behind a TLS proxy the browser's origin is
    ``https://`` while the request reaching us is plain HTTP (the proxy must
    keep the ``Host`` header). A request with neither header is refused:
    every browser sends Origin on POST.
    """
    if not host_header:
        return False
    claimed = origin if origin and origin != "null" else referer
    if not claimed:
        return False
    try:
        netloc = urlsplit(claimed).netloc
    except ValueError:
        return False
    return bool(netloc) and hmac.compare_digest(netloc.lower().encode(), host_header.strip().lower().encode())
