"""How the wire client reaches a server: a small :class:`Transport` protocol, and the two
transports every test and benchmark uses, over HTTP (a ``requests`` session and a base URL)
or straight into a Flask app (its test client)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
import requests

REQUEST_TIMEOUT = 60.0  # the SDK's per-request timeout


@dataclass
class Reply:
    """One HTTP answer, read whole."""

    status: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Transport(Protocol):
    def request(self, method: str, url: str, *, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> Reply:
        """``url`` is absolute (a signed file URL) or a path on the server (``/graphql``)."""
        ...


class HttpTransport:
    """Real HTTP through a ``requests`` session (keep-alive), paths resolved against ``base_url``."""

    def __init__(self, base_url: str, session: requests.Session | None = None,
                 timeout: float = REQUEST_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    def request(self, method: str, url: str, *, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> Reply:
        if "://" not in url:
            url = self.base_url + url
        resp = self.session.request(method, url, data=body, headers=dict(headers or {}), timeout=self.timeout,
                                    stream=True)
        # One raw read: requests' .content iterates in 10 KB pieces, which costs more than serving.
        content = resp.raw.read(decode_content=True)
        return Reply(resp.status_code, content, resp.headers)


class FlaskTransport:
    """Into a Flask app's test client: no socket, same handlers (absolute URLs keep path and query)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def request(self, method: str, url: str, *, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> Reply:
        parts = urlsplit(url)
        # Labelbox's storage host (in-process row_data) is the app's /storage routes
        prefix = "/storage" if parts.hostname == "storage.labelbox.com" else ""
        path = prefix + parts.path + (f"?{parts.query}" if parts.query else "")
        resp = self.client.open(path, method=method, data=body, headers=dict(headers or {}))
        return Reply(resp.status_code, resp.get_data(), resp.headers)
