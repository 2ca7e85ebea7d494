"""How an in-process mock takes the Labelbox hosts off ``requests``, beside anyone else's mock.

Design: one hook on :meth:`requests.Session.get_adapter`, installed once per process by the first
:class:`~lbmock.mockserver.http.inprocess.MockLabelbox` to start.  ``Session.send`` asks
``get_adapter`` which transport to use; for a Labelbox host the hook answers with the active mock's
own adapter, for any other host it defers to ``requests``.  Why not ``responses`` (what lbmock used
before): ``responses`` patches ``HTTPAdapter.send`` for the whole process, and two
``RequestsMock``\\ s cannot share that patch (the later one wins; the earlier one's hosts are
"Connection refused by Responses").  Choosing the adapter happens *before* ``HTTPAdapter.send``, and
lbmock's adapter has its own ``send``, so:

* a user's ``responses`` mock (decorator, context manager, ``responses.start()``), started before or
  after lbmock, answers every other host as it decides (its stubs, passthrough or refusal), and
  never sees a Labelbox request;
* lbmock never sees another host's request (no "refused by lbmock" for them either).

Never the network: a session made (or served) while a mock was active keeps a guard after the mock
stops, and any URL lbmock signed (``X-Lbmock-Signature``) is guarded in every session: such a request
raises :class:`MockNotActiveError` instead of leaving the process.  Sessions that never met a mock
reach Labelbox as usual (the contract suite's live target does).
"""

from __future__ import annotations

import re
import threading
from typing import Any

import requests
from requests.adapters import BaseAdapter, HTTPAdapter

LABELBOX_HOSTS = re.compile(r"^https?://(api|app|editor|storage)\.labelbox\.com(:\d+)?(/|$)", re.IGNORECASE)
_SIGNED_BY_LBMOCK = "X-Lbmock-Signature="
_GUARDED = "_lbmock_guarded"  # a session attribute: this session met a mock


class MockNotActiveError(RuntimeError):
    """A Labelbox request from a session made under an lbmock mock, after that mock stopped."""


class _Active:
    """The started in-process mocks, innermost last (process-wide, as ``requests`` is)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stack: list[Any] = []

    def push(self, mock: Any) -> None:
        with self._lock:
            self._stack.append(mock)

    def remove(self, mock: Any) -> None:
        with self._lock:
            if mock in self._stack:
                self._stack.remove(mock)

    def top(self) -> Any | None:
        stack = self._stack
        return stack[-1] if stack else None


ACTIVE = _Active()
_install_lock = threading.Lock()
_installed = False


class MockAdapter(HTTPAdapter):
    """Answers a Labelbox request from one mock's app (its ``send`` is its own, so a ``responses``
    patch of ``HTTPAdapter.send`` never reaches it)."""

    def __init__(self, dispatch: Any) -> None:
        super().__init__(pool_connections=1, pool_maxsize=1)
        self._dispatch = dispatch

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        import io
        from http.client import responses as reasons

        from urllib3 import HTTPResponse

        status, headers, body = self._dispatch(request)
        raw = HTTPResponse(body=io.BytesIO(body) if isinstance(body, bytes) else body, headers=headers,
                           status=status, reason=reasons.get(status, ""), preload_content=False,
                           decode_content=False, request_method=request.method)  # HEAD: no body
        return self.build_response(request, raw)


class _GuardAdapter(BaseAdapter):
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        raise MockNotActiveError(
            f"lbmock: {request.method} {request.url.split('?')[0]} was sent after the lbmock mock it was made "
            "under (mock_labelbox / lb_mock) had stopped; lbmock never lets it reach the real Labelbox. Consume "
            "SDK results (lazy collections, export streams) inside the mock, or start the mock again.")

    def close(self) -> None:
        pass


_GUARD = _GuardAdapter()


def install() -> None:
    """Hook ``requests.Session`` once per process (idempotent; cheap for hosts other than Labelbox's)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        original_get_adapter = requests.Session.get_adapter
        original_init = requests.Session.__init__

        def get_adapter(self: requests.Session, url: str) -> BaseAdapter:
            if LABELBOX_HOSTS.match(url):
                mock = ACTIVE.top()
                if mock is not None:
                    setattr(self, _GUARDED, True)
                    return mock.adapter
                if getattr(self, _GUARDED, False) or _SIGNED_BY_LBMOCK in url:
                    return _GUARD
            return original_get_adapter(self, url)

        def init(self: requests.Session, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            if ACTIVE.top() is not None:  # made under a mock: guarded after it stops, even if unused until then
                setattr(self, _GUARDED, True)

        get_adapter.__wrapped__ = original_get_adapter  # type: ignore[attr-defined]
        init.__wrapped__ = original_init  # type: ignore[attr-defined]
        requests.Session.get_adapter = get_adapter  # type: ignore[method-assign]
        requests.Session.__init__ = init  # type: ignore[method-assign]
        _installed = True
