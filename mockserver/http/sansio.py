"""HTTP/1.1 request framing from bytes, no sockets: what ``server.py`` reads is decided here.

Strict by design (RFC 9112), because a lenient parser behind a load balancer that reads the same
bytes differently is how requests get smuggled.  Refused, each with a :class:`ProtocolError` whose
status the server sends before closing the connection:

* a line not ending in CRLF (bare LF), a bare CR anywhere, obsolete line folding (§2.2, §5.2);
* a request line that is not ``token SP target SP HTTP/1.x``; HTTP/2+ gets 505 (§3);
* a field line that is not ``token ":" OWS value OWS`` with visible or obs-text octets (§5);
* more than one Host, or none in HTTP/1.1 (§3.2);
* Transfer-Encoding in HTTP/1.0, with Content-Length, or other than exactly ``chunked``
  (unknown codings 501, ``chunked`` not last 400) (§6.1, §6.3);
* Content-Length repeated (even equal), a list, or not 1*DIGIT (``+5``, ``1_0``, `` 5 5``),
  or more digits than :data:`MAX_LENGTH_DIGITS` (§6.3, §8.6 of RFC 9110);
* chunk sizes that are not 1*HEXDIG (or too long), malformed chunk extensions, chunk data not
  followed by CRLF, trailer lines that are not field lines (a trailer never becomes a request) (§7.1);
* a head or body over its limit (431, 413).

The server drives two things: :func:`head_end` / :func:`parse_head` for a request head, then a
:class:`ChunkedDecoder` (``feed`` a buffer, it takes what it can) when the body is chunked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_REQUEST_LINE = 65536 + 64  # a 64 KiB target still fits (lbmock answers it with a near miss)
MAX_HEAD = 131072  # request line and every field line together
MAX_HEADERS = 100  # field lines
MAX_BODY = 4 * 1024 * 1024  # as the Flask app's MAX_CONTENT_LENGTH
MAX_CHUNK_LINE = 4096  # chunk-size line with its extensions; each trailer line
MAX_LENGTH_DIGITS = 18  # Content-Length or chunk size in decimal digits (hex: 16): fits an int64

_TOKEN_TEXT = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+"
_TOKEN = _TOKEN_TEXT.encode()
# heads are matched as latin-1 text (one decode); visible and obs-text octets, as the RFC's grammar
_REQUEST_LINE = re.compile(f"({_TOKEN_TEXT}) ([\x21-\x7e\x80-\xff]+) (HTTP/[0-9]\\.[0-9])")
# field-value: visible and obs-text octets, single spaces/tabs between; the OWS around is trimmed
_FIELD_VALUE = "(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?"
_FIELD_LINE = _TOKEN_TEXT + ":[ \t]*" + _FIELD_VALUE + "[ \t]*"
_FIELD = re.compile(f"({_TOKEN_TEXT}):[ \t]*({_FIELD_VALUE})[ \t]*")
_FIELDS = re.compile(f"(?:{_FIELD_LINE}\r\n)*")  # every field line of a head, in one match
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_EXT = rb"(?:[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?)*"
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})" + _CHUNK_EXT)
_DIGITS = re.compile(rb"[0-9]{1,%d}" % MAX_LENGTH_DIGITS)


class ProtocolError(Exception):
    """A request the server refuses before the app sees it; the connection is then closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class RequestHead:
    method: str
    target: str
    version: str  # "HTTP/1.0" or "HTTP/1.1"
    headers: list[tuple[str, str]]  # field names as sent, values trimmed (latin-1)
    length: int  # body bytes when not chunked (0: no body)
    chunked: bool
    keep_alive: bool
    expect_continue: bool


def head_end(buffer: bytes | bytearray, max_head: int = MAX_HEAD) -> int:
    """Where the head at the start of ``buffer`` ends (just after its empty line), or -1 if the
    buffer does not hold it all yet; ProtocolError once it is longer than any head accepted.

    A bare LF ends a head too (``\\n\\n``), so such a request is refused at once by
    :func:`parse_head` rather than waited on."""
    crlf = buffer.find(b"\n\r\n", 0, max_head + 1)  # (searches bounded: the buffer may hold bodies too)
    lf = buffer.find(b"\n\n", 0, crlf + 2 if crlf >= 0 else max_head + 1)
    ends = [i for i in (crlf + 3 if crlf >= 0 else -1, lf + 2 if lf >= 0 else -1) if i >= 0]
    end = min(ends) if ends else -1
    if end > max_head or (end < 0 and len(buffer) > max_head):
        first = buffer.find(b"\n")
        if first < 0 or first > MAX_REQUEST_LINE:
            raise ProtocolError(431, "request line too long")
        raise ProtocolError(431, "request header fields too large")
    return end


def skip_empty_lines(buffer: bytearray) -> None:
    """Drop the empty lines (CRLF) a client may send before a request line (RFC 9112 §2.2)."""
    start = 0
    while buffer.startswith(b"\r\n", start):
        start += 2
    if start:
        del buffer[:start]


def parse_fields(lines: list[str], what: str = "header") -> list[tuple[str, str]]:
    """Field lines (headers or trailers, latin-1 text) as ``(name, value)``; anything else is refused."""
    fields = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            raise ProtocolError(400, f"obsolete line folding in a {what}")
        found = _FIELD.fullmatch(line)
        if found is None:
            raise ProtocolError(400, f"malformed {what} line")
        fields.append((found[1], found[2]))
    return fields


def parse_head(head: bytes, max_body: int = MAX_BODY) -> RequestHead:
    """The request head ``head`` (request line through the empty line), checked and framed."""
    lines = head.count(b"\n")
    if head.count(b"\r\n") != lines:
        raise ProtocolError(400, "line not ending in CRLF (bare LF)")
    if head.count(b"\r") != lines:
        raise ProtocolError(400, "bare CR in the request head")
    text = head.decode("latin-1")
    first = text.find("\r\n")
    if first > MAX_REQUEST_LINE:
        raise ProtocolError(431, "request line too long")
    if lines - 2 > MAX_HEADERS:
        raise ProtocolError(431, "too many header lines")
    request = _REQUEST_LINE.fullmatch(text, 0, first)
    if request is None:
        raise ProtocolError(400, "malformed request line")
    version = request[3]
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise ProtocolError(505 if version >= "HTTP/2" else 400, f"unsupported protocol {version}")
    block = text[first + 2:-2]  # the field lines, each with its CRLF
    if _FIELDS.fullmatch(block) is None:  # the slow path names what is wrong
        parse_fields(block.split("\r\n")[:-1])
    headers = [(name, value.strip(" \t")) for name, _, value in
               (line.partition(":") for line in block.split("\r\n")[:-1])]
    lengths, codings, hosts, connection, expect = [], [], 0, [], ""
    for name, value in headers:
        folded = name.lower()
        if folded == "content-length":
            lengths.append(value)
        elif folded == "transfer-encoding":
            codings += [c.strip(" \t").lower() for c in value.split(",")]
        elif folded == "host":
            hosts += 1
        elif folded == "connection":
            connection += [c.strip(" \t").lower() for c in value.split(",")]
        elif folded == "expect":
            expect = value.lower()
    if hosts > 1 or (hosts == 0 and version == "HTTP/1.1"):
        raise ProtocolError(400, "a request needs exactly one Host header")
    length, chunked = _framing(version, lengths, codings, max_body)
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    return RequestHead(request[1], request[2], version, headers, length, chunked, keep_alive,
                       expect == "100-continue")


def _framing(version: str, lengths: list[str], codings: list[str], max_body: int) -> tuple[int, bool]:
    """(Content-Length, chunked) of a request body, RFC 9112 §6.3's rules for requests."""
    if codings:
        if version == "HTTP/1.0":
            raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
        if lengths:
            raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
        if codings.count("chunked") > 1 or (codings[-1] != "chunked" and "chunked" in codings):
            raise ProtocolError(400, "chunked is not the final transfer coding, or is applied twice")
        if codings != ["chunked"]:  # xchunked, gzip, "gzip, chunked": lbmock decodes chunked only
            raise ProtocolError(501, f"unsupported transfer coding {', '.join(codings)[:60]!r}")
        return 0, True
    if not lengths:
        return 0, False
    if len(lengths) > 1:
        raise ProtocolError(400, "more than one Content-Length")
    if _DIGITS.fullmatch(lengths[0].encode("latin-1")) is None:
        raise ProtocolError(400, f"invalid Content-Length {lengths[0][:40]!r}")
    length = int(lengths[0])
    if length > max_body:
        raise ProtocolError(413, f"request body over {max_body} bytes")
    return length, False


class ChunkedDecoder:
    """A chunked body (RFC 9112 §7.1), decoded from whatever part of it the server has read.

    :meth:`feed` takes the bytes it can use from the front of a buffer (deleting them) and
    returns the body bytes they held; :attr:`done` once the last chunk and the trailer section
    have been read (what follows in the buffer is the next request).  Trailers are checked as
    field lines and dropped.
    """

    def __init__(self, max_body: int = MAX_BODY) -> None:
        self.max_body = max_body
        self.received = 0
        self.done = False
        self._left = 0  # data bytes of the current chunk still to come
        self._state = "size"  # size -> data -> data-end -> size ... -> trailer -> done
        self._trailers = 0

    def feed(self, buffer: bytearray) -> bytes:
        out = []
        while not self.done:
            if self._state == "data":
                take = min(self._left, len(buffer))
                if not take:
                    break
                out.append(bytes(buffer[:take]))
                del buffer[:take]
                self._left -= take
                if self._left == 0:
                    self._state = "data-end"
                continue
            if self._state == "data-end":
                if len(buffer) < 2:
                    break
                if buffer[:2] != b"\r\n":
                    raise ProtocolError(400, "chunk data not followed by CRLF")
                del buffer[:2]
                self._state = "size"
                continue
            line = self._line(buffer)
            if line is None:
                break
            if self._state == "size":
                self._size(line)
            elif line == b"":  # the end of the trailer section
                self.done = True
            else:
                self._trailers += 1
                if self._trailers > MAX_HEADERS:
                    raise ProtocolError(431, "too many trailer lines")
                parse_fields([line.decode("latin-1")], "trailer")
        return b"".join(out)

    def _line(self, buffer: bytearray) -> bytes | None:
        end = buffer.find(b"\n", 0, MAX_CHUNK_LINE + 2)
        if end < 0:
            if len(buffer) > MAX_CHUNK_LINE:
                raise ProtocolError(400 if self._state == "size" else 431, "chunk or trailer line too long")
            return None
        line = bytes(buffer[:end])
        del buffer[:end + 1]
        if not line.endswith(b"\r") or b"\r" in line[:-1]:
            raise ProtocolError(400, "chunk line not ending in CRLF, or with a bare CR")
        return line[:-1]

    def _size(self, line: bytes) -> None:
        found = _CHUNK_LINE.fullmatch(line)
        if found is None:
            raise ProtocolError(400, "malformed chunk size line")
        size = int(found[1], 16)
        self.received += size
        if self.received > self.max_body:
            raise ProtocolError(413, f"request body over {self.max_body} bytes")
        if size:
            self._left, self._state = size, "data"
        else:
            self._state = "trailer"
