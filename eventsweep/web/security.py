"""What guards every request: the Host check, the token, the session, CSRF and the headers.

One ASGI middleware (:class:`Guard`) sees every request before any route does:

- **Host**: the ``Host`` header must name this server (the bound address, ``localhost``, or a
  name given with ``--allow-host``); anything else is 421 with no data. A page of another
  site whose name an attacker points at 127.0.0.1 (DNS rebinding) reads nothing.
- **Token**: when the server has one (always when it binds beyond loopback), every request
  but the login page and the static files must carry it: the ``eventsweep_auth`` cookie that
  the login page sets (an HMAC of the token, never the token itself), or an
  ``Authorization: Bearer`` header for scripts. Otherwise 401 and no data. The token is never
  read from a URL and never logged.
- **Session and CSRF**: every response sets a random session cookie if the request had none;
  the CSRF token of a session is an HMAC of its id (:meth:`Keys.csrf`), put in every page
  (``<meta name="csrf-token">`` and each form's hidden ``csrf`` field). A request that
  changes state (any method but GET/HEAD/OPTIONS) must carry it (``X-CSRF-Token`` header or
  ``csrf`` form field; checked by :func:`require_csrf`, a dependency of the whole app) and,
  come from this server's own origin as far as the browser tells (:func:`same_origin`:
  ``Sec-Fetch-Site`` and ``Origin``).
- **Headers** on every response, errors included: :data:`HEADERS`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from fastapi import HTTPException, Request

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

AUTH_COOKIE = "eventsweep_auth"
SESSION_COOKIE = "eventsweep_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PREFIXES = ("/static/", "/login")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Keys:
    """The server's secrets: the login token (or None: no login) and a key for derived values."""

    token: str | None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def _mac(self, purpose: str, value: str) -> str:
        message = f"{purpose}\x00{value}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def csrf(self, session: str) -> str:
        return self._mac("csrf", session)

    def auth_cookie(self) -> str:
        """The cookie value that stands for the token (changes with every server start)."""
        assert self.token is not None
        return self._mac("auth", self.token)

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def authenticated(self, cookies: dict[str, str], authorization: str) -> bool:
        if self.token is None:
            return True
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and self.token_matches(value.strip()):
            return True
        held = cookies.get(AUTH_COOKIE, "")
        return bool(held) and hmac.compare_digest(held, self.auth_cookie())


def cookies_of(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header counts as none
                continue
    return {key: morsel.value for key, morsel in jar.items()}


def header(scope: Scope, wanted: bytes) -> str:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return str(value.decode("latin-1"))
    return ""


def cookie_header(name: str, value: str, *, max_age: int | None = None) -> bytes:
    text = f"{name}={value}; Path=/; HttpOnly; SameSite=Strict"
    if max_age is not None:
        text += f"; Max-Age={max_age}"
    return text.encode()


class Guard:
    """The ASGI middleware of the module docstring."""

    def __init__(
        self, app: App, keys: Keys, hosts: Iterable[str], login_page: Callable[[str], bytes]
    ) -> None:
        self.app = app
        self.keys = keys
        self.hosts = frozenset(name.lower() for name in hosts)
        self.login_page = login_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = cookies_of(scope)
        session = cookies.get(SESSION_COOKIE, "")
        fresh = not _valid_session(session)
        if fresh:
            session = secrets.token_urlsafe(24)
        scope.setdefault("state", {})["session"] = session
        scope["state"]["csrf"] = self.keys.csrf(session)

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0] not in _OURS]
                headers.extend(HEADERS)
                if fresh:
                    headers.append((b"set-cookie", cookie_header(SESSION_COOKIE, session)))
                message["headers"] = headers
            await send(message)

        refusal = self._refusal(scope, cookies)
        if refusal is not None:
            status, text = refusal
            if status == 401 and "text/html" in header(scope, b"accept"):
                await _send(
                    send_guarded,
                    status,
                    self.login_page(scope["state"]["csrf"]),
                    b"text/html; charset=utf-8",
                )
            else:
                await _send(send_guarded, status, text.encode() + b"\n")
            return
        await self.app(scope, receive, send_guarded)

    def _refusal(self, scope: Scope, cookies: dict[str, str]) -> tuple[int, str] | None:
        host = _host_name(header(scope, b"host"))
        if host not in self.hosts:
            return 421, "this server does not answer for that host name"
        path: str = scope.get("path", "")
        if path.startswith(PUBLIC_PREFIXES):
            return None
        if not self.keys.authenticated(cookies, header(scope, b"authorization")):
            return 401, "log in first: /login"
        return None


_OURS = frozenset(name for name, _ in HEADERS)


def _valid_session(value: str) -> bool:
    return 16 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


async def _send(
    send: Send, status: int, body: bytes, kind: bytes = b"text/plain; charset=utf-8"
) -> None:
    headers = [(b"content-type", kind), (b"cache-control", b"no-store")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="eventsweep"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def own_origins(request: Request) -> set[str]:
    host = request.headers.get("host", "")
    return {f"http://{host}", f"https://{host}"}


def same_origin(request: Request) -> bool:
    """Whether a request comes from this server's own pages, as far as the browser tells.

    ``Sec-Fetch-Site`` (sent by every current browser) must say ``same-origin``; an ``Origin``
    must be ours. Under ``Referrer-Policy: no-referrer`` a browser sends ``Origin: null`` for
    a form post, so ``null`` is accepted only beside ``Sec-Fetch-Site: same-origin``. A client
    that sends neither (a script) is judged by the CSRF token alone."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return site == "same-origin"
    return origin in own_origins(request)


async def require_csrf(request: Request) -> None:
    """Refuse a state-changing request without this session's CSRF token, or from another
    origin (a dependency of every route)."""
    if request.method in SAFE_METHODS:
        return
    if not same_origin(request):
        raise HTTPException(403, "cross-origin request refused")
    given = request.headers.get(CSRF_HEADER, "")
    if not given and "form" in request.headers.get("content-type", ""):
        form = await request.form()
        value = form.get("csrf", "")
        given = value if isinstance(value, str) else ""
    if not given or not hmac.compare_digest(given, request.state.csrf):
        raise HTTPException(403, "missing or wrong CSRF token (reload the page)")
