"""Who may reach the server, checked before any handler runs (the threat model: docs/security.md).

* **Host allow-list.**  ``/_mock/`` (the admin API and the dashboard) answers only requests whose
  ``Host`` names this server: loopback names and addresses, the bind address, ``--public-url``'s
  host and ``--allow-host`` names (a wildcard bind also takes any IP literal and the machine's
  name).  A page that rebinds its own DNS name to 127.0.0.1 sends its own name, and is refused.
  On a loopback bind the emulated API is checked too (it would hand a rebinding page the journal's
  exports, and ``--dicom-dir`` files); on another bind it answers any Host, as a deployment
  behind a load balancer needs.  In-process mocks (``MockLabelbox``) never cross a socket: unchecked.
* **Same origin.**  A state-changing ``/_mock/`` request (any method but GET/HEAD/OPTIONS) from a
  browser must say it comes from this origin: ``Origin`` (never ``null``) and ``Sec-Fetch-Site``
  (``same-origin`` or ``none``), when present; a client sending neither is not a browser.  The JSON
  API also takes only ``Content-Type: application/json`` bodies, which no page of another origin can
  send without a CORS preflight lbmock never grants: ``no-cors`` fetches, beacons and ``text/plain``
  forms are refused.
* **Admin token** (``--admin-token``): every ``/_mock/`` route asks for it, as the header
  ``X-Lbmock-Admin-Token`` or ``Authorization: Bearer``, or the dashboard's cookie, set by
  ``/_mock/login`` (a one-time link the banner prints, or a form taking the token).
* **No framing.**  ``/_mock/`` and ``/`` answer with ``frame-ancestors 'none'`` and
  ``X-Frame-Options: DENY``: a page of another origin cannot frame the dashboard under a click.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import socket
from html import escape
from urllib.parse import urlsplit

from flask import Flask, Response, redirect, request
from werkzeug.exceptions import Forbidden, Unauthorized

from lbmock.mockserver.config import ServerConfig
from lbmock.mockserver.handlers.common import GRAPHQL_PATHS, backend, backend_of, json_error

__all__ = ["ADMIN_PREFIX", "COOKIE", "LOGIN_PATH", "TOKEN_HEADER", "cookie_value", "cross_site_reason",
           "host_allowed", "install_guard", "login"]

ADMIN_PREFIX = "/_mock/"
DASHBOARD_PREFIX = "/_mock/dashboard"
LOGIN_PATH = "/_mock/login"
TOKEN_HEADER = "X-Lbmock-Admin-Token"
COOKIE = "lbmock_admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
FRAMING = {"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff"}


# ------------------------------------------------------------ Host


def host_name(header: str) -> str | None:
    """The name or address of a ``Host`` header, lower case, without port or brackets (None: malformed)."""
    header = header.strip().lower()
    if header.startswith("["):
        name, bracket, rest = header[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
    else:
        name, colon, port = header.partition(":")
        if colon and not port.isdigit():
            return None
    name = name.rstrip(".")
    if not name or any(c in name for c in " /\\@%\x00\t"):
        return None
    return name


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _loopback(name: str) -> bool:
    address = _ip(name)
    if address is not None:
        return address.is_loopback
    return name == "localhost" or name.endswith(".localhost")  # browsers resolve *.localhost themselves


@functools.lru_cache(maxsize=64)
def _allowed_names(bind: str, extra: tuple[str, ...], public_url: str | None) -> frozenset[str]:
    names = {bind.strip("[]").lower(), *(h.lower().rstrip(".") for h in extra)}
    if public_url:
        names.add((urlsplit(public_url).hostname or "").lower())
    if bind in WILDCARDS:  # reachable by the machine's own name too
        names.add(socket.gethostname().lower())
    return frozenset(names - {""})


def host_allowed(header: str | None, config: ServerConfig) -> bool:
    """Whether a request carrying ``Host: header`` names this server (no header: an HTTP/1.0
    client, never a browser)."""
    if header is None:
        return True
    return _host_allowed(header, config.bind_host, config.allow_hosts, config.public_url)


@functools.lru_cache(maxsize=256)  # every request asks, with the same few headers (parsing one: ~30 µs)
def _host_allowed(header: str, bind_host: str, allow_hosts: tuple[str, ...], public_url: str | None) -> bool:
    name = host_name(header)
    if name is None:
        return False
    if _loopback(name) or name in _allowed_names(bind_host, allow_hosts, public_url):
        return True
    return bind_host in WILDCARDS and _ip(name) is not None  # an address: no DNS to rebind


def checks_api_host(config: ServerConfig) -> bool:
    """Whether the emulated API is Host-checked too: on a loopback bind (a developer's machine)."""
    return _loopback(config.bind_host.strip("[]").lower())


def _host_refusal(environ: dict, config: ServerConfig) -> str | None:
    if environ.get("lbmock.backend") is not None:  # in-process: no socket, no browser
        return None
    host = environ.get("HTTP_HOST")
    if host_allowed(host, config):
        return None
    if not environ.get("PATH_INFO", "").startswith(ADMIN_PREFIX) and not checks_api_host(config):
        return None
    return (f"Host {host!r} is not a name of this server (a DNS-rebinding page would send its own); "
            f"start lbmock serve with --allow-host NAME (or --public-url) to answer it")


def api_host_allowed(environ: dict, config: ServerConfig) -> bool:
    """The Host check of an emulated request taken outside Flask (the ``/files/`` fast path)."""
    return _host_refusal(environ, config) is None


# ------------------------------------------------------------ origin and body


def _origin_netloc(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    try:
        port = parts.port or default
    except ValueError:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"


def cross_site_reason() -> str | None:
    """Why the current request is not from a page of this origin, or None.  A browser says where
    a request comes from (``Origin``, ``Sec-Fetch-Site``); a client sending neither is not one."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"refused a {fetch_site} request (Sec-Fetch-Site)"
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    if origin.strip() == "null":
        return "refused a request from an opaque origin (Origin: null: a sandboxed frame, a data: URL or a file)"
    here = {_origin_netloc(request.host_url)}
    public = backend().config.public_url
    if public:
        here.add(_origin_netloc(public))
    if _origin_netloc(origin) not in here - {None}:
        return f"refused a request from {origin[:100]!r}: not this server's origin"
    return None


def _body_reason() -> str | None:
    """A JSON API body must say it is JSON: no page of another origin can send that without a
    CORS preflight (lbmock answers none), so ``no-cors`` fetches, beacons and forms are refused."""
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        has_body = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        return "a request body needs Content-Type: application/json" if has_body else None
    if request.mimetype != "application/json":
        return f"Content-Type {content_type[:100]!r} refused: the admin API takes application/json"
    return None


# ------------------------------------------------------------ admin token


def cookie_value(token: str) -> str:
    """The dashboard's cookie for ``token``: derived, so the token itself never sits in a cookie jar,
    and every worker and restart with the same token accepts it."""
    return hmac.new(token.encode(), b"lbmock dashboard session", hashlib.sha256).hexdigest()


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                                     expected.encode("utf-8", "surrogateescape"))


def token_given(token: str) -> bool:
    """Whether the current request carries the admin token (header, bearer, or the dashboard's cookie)."""
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    return (_same(request.headers.get(TOKEN_HEADER), token)
            or (scheme.lower() == "bearer" and _same(bearer.strip(), token))
            or _same(request.cookies.get(COOKIE), cookie_value(token)))


# ------------------------------------------------------------ the hooks


def _refuse(status: int, message: str, code: str) -> Response:
    """A refusal in the shape of what was asked: an HTML page under the dashboard, else JSON."""
    if request.path.startswith(DASHBOARD_PREFIX + "/") or request.path == DASHBOARD_PREFIX:
        raise (Forbidden if status == 403 else Unauthorized)(message)
    if request.path in GRAPHQL_PATHS and request.routing_exception is None:  # the SDK reads GraphQL's shape
        import orjson

        body = {"errors": [{"message": message, "extensions": {"code": code}}]}
        return Response(orjson.dumps(body), status=status, mimetype="application/json")
    return json_error(status, message, code)


def install_guard(app: Flask) -> None:
    """Check every request before the rest of the app sees it; frame-proof /_mock/ and ``/``."""

    @app.before_request
    def _guard() -> Response | None:
        config = backend_of(request.environ, app).config
        refused = _host_refusal(request.environ, config)
        if refused:
            return _refuse(403, refused, "FORBIDDEN_HOST")
        if not request.path.startswith(ADMIN_PREFIX):
            return None
        if request.method not in SAFE_METHODS:
            reason = cross_site_reason()
            if reason is None and not request.path.startswith(DASHBOARD_PREFIX) and request.path != LOGIN_PATH:
                reason = _body_reason()
            if reason:
                return _refuse(403, reason, "FORBIDDEN_CROSS_SITE")
        token = config.admin_token
        if token is not None and request.path != LOGIN_PATH and not token_given(token):
            return _refuse(401, f"this server needs its admin token: the {TOKEN_HEADER} header (or "
                                f"'Authorization: Bearer <token>'), or log in to the dashboard at {LOGIN_PATH}",
                           "ADMIN_TOKEN_REQUIRED")
        return None

    @app.after_request
    def _no_framing(response: Response) -> Response:
        if request.path == "/" or request.path.startswith(ADMIN_PREFIX):
            for name, value in FRAMING.items():
                response.headers.setdefault(name, value)
        return response


# ------------------------------------------------------------ /_mock/login


_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lbmock: admin token</title></head>
<body><h1>lbmock: admin token</h1>
<p>{message}</p>
<form method="post" action="{action}">
<label for="token">Admin token</label> <input id="token" name="token" type="password" autocomplete="off" autofocus>
<button type="submit">Open the dashboard</button></form>
</body></html>
"""


def login() -> Response:
    """``/_mock/login``: ``GET ?code=`` (the banner's one-time link) or ``POST token=`` sets the
    dashboard's cookie (HttpOnly, SameSite=Strict, under /_mock/) and goes to the dashboard."""
    be = backend()
    token = be.config.admin_token
    if token is None:
        return redirect(DASHBOARD_PREFIX + "/", 303)
    if request.method == "POST":
        ok = _same(request.form.get("token", ""), token)
        message = "That is not this server's admin token."
    else:
        code = request.args.get("code")
        ok = bool(code) and be.use_login_code(code)
        message = ("That link was used already (each link opens one browser): enter the token."
                   if code else "This server needs its admin token (--admin-token).")
    if not ok:
        page = _LOGIN_PAGE.format(message=escape(message), action=escape(LOGIN_PATH))
        return Response(page, status=401, mimetype="text/html", headers={"Referrer-Policy": "no-referrer"})
    answer = redirect(DASHBOARD_PREFIX + "/", 303)
    answer.headers["Referrer-Policy"] = "no-referrer"  # the code never leaves in a Referer
    answer.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="Strict", path=ADMIN_PREFIX,
                      secure=request.scheme == "https")
    return answer
