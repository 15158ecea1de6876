"""The web server's limits and HTTP guards, in one place.

`Limits` holds every number (the README's table of server limits lists
them); the rest applies them:

- `BodyLimit` (ASGI): the body must arrive within `body_timeout` seconds
  and hold at most `body_bytes`; a longer one is read on and discarded up to
  `drain_bytes` more, then answered 413, so that clients that send the whole
  body before reading (Python's urllib, curl) see the 413 instead of a
  connection reset;
- `HostAllowlist` (ASGI): answers 400 to a `Host` header outside the
  allowlist, which stops DNS rebinding while the server listens on loopback;
- `SecurityHeaders` (ASGI): `nosniff`, a same-origin Content-Security-Policy,
  no framing and no referrer on every response;
- `HeadTimeoutProtocol`: uvicorn's h11 protocol plus a deadline for the
  request head (uvicorn has none: a client sending a header byte a second
  would hold its connection forever), and a lingering close where an answer
  (a 408, a 413) comes before the whole request body: the client may still
  be sending, and a socket closed with bytes still arriving answers them
  with a TCP reset, which a client sending its body sees as a broken pipe
  instead of the answer;
- `uvicorn_settings`: uvicorn's settings for the above, plus uvicorn's own
  keep-alive timeout, connection limit and head size limit.

The limits follow the defaults of common servers: Apache's mod_reqtimeout
drops a client that has not sent its headers within 20 s, nginx waits 60 s
for a request body, and h11 (uvicorn) allows a 16 KiB request head; the
lingering close is nginx's (`lingering_close`, `lingering_time` 30 s,
`lingering_timeout` 5 s).
"""

import dataclasses
import functools
import ipaddress
from urllib.parse import urlsplit

import anyio
import h11
from starlette.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclasses.dataclass(frozen=True)
class Limits:
    """Limits of one server (the pixel limit is `decoding.MAX_PIXELS`, shared with the CLI and the API).

    Attributes:
        body_bytes: largest request body, bytes; more is 413.
        drain_bytes: how much of an over-limit body is read and discarded
            before the 413, bytes.
        head_timeout: seconds a connection may take to send a request head
            (request line and headers) after it opens or after its previous
            response; then it is closed.
        body_timeout: seconds the whole request body may take after the
            head; then 408.
        keep_alive: seconds an idle keep-alive connection stays open.
        connections: concurrent connections (and requests) before uvicorn
            answers 503.
        head_bytes: largest request head, bytes; more is 400 (h11).
        decodes: images decoded and normalized at the same time; other
            requests wait their turn (this bounds the memory of decoding).
    """

    body_bytes: int = 2 * 1024 * 1024
    drain_bytes: int = 8 * 1024 * 1024
    head_timeout: float = 20.0
    body_timeout: float = 60.0
    keep_alive: int = 5
    connections: int = 64
    head_bytes: int = 16 * 1024
    decodes: int = 2


# nginx's lingering close: after an answer that leaves part of the request body unread, the server shuts its side
# down and reads on, discarding, until the client closes, for at most LINGERING_TIME seconds in all and
# LINGERING_TIMEOUT seconds without data (nginx's defaults).
LINGERING_TIME, LINGERING_TIMEOUT = 30.0, 5.0
LIMITS = Limits()  # the defaults, as `digitrec serve` applies them
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")  # names a browser uses for this machine


def error(status, detail, headers=None):
    """A JSON `{"detail": ...}` response."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware: read the whole body first, within `limits.body_timeout` and `limits.body_bytes`.

    It trusts no header alone: a declared Content-Length over the limit and
    the streamed bytes are both checked. The body is then handed to the app
    in one piece.
    """

    def __init__(self, app, limits):
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit():
            return await error(400, f"bad Content-Length header {length.decode('latin-1')!r}")(scope, receive, send)
        declared, cap = int(length), self.limits.body_bytes + self.limits.drain_bytes
        body, size, more = [], 0, declared <= cap  # a body declared over `cap` is not read: 413 at once
        try:
            with anyio.fail_after(self.limits.body_timeout):
                while more and size <= cap:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size <= self.limits.body_bytes:
                        body.append(chunk)
                    more = message.get("more_body", False)
        except TimeoutError:
            detail = f"request body not received within {self.limits.body_timeout:g} s"
            return await error(408, detail, {"connection": "close"})(scope, receive, send)
        if max(size, declared) > self.limits.body_bytes:
            limit = f"{self.limits.body_bytes:,} bytes ({self.limits.body_bytes / 2**20:g} MB)"
            detail = f"request body too large: the limit is {limit}"
            return await error(413, detail, {"connection": "close"})(scope, receive, send)
        body, replayed = b"".join(body), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class HostAllowlist:
    """ASGI middleware: a JSON 400 unless the `Host` header names one of `hosts` (any port)."""

    def __init__(self, app, hosts):
        self.app, self.hosts = app, {h.lower() for h in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            try:
                name = urlsplit(f"//{host}").hostname
            except ValueError:
                name = None
            if name not in self.hosts:
                detail = (f"Host header {host!r} is not allowed: this server answers only to "
                          f"{', '.join(sorted(self.hosts))} (`digitrec serve --host ADDRESS` serves a network)")
                return await error(400, detail)(scope, receive, send)
        await self.app(scope, receive, send)


def is_loopback(host):
    """Whether a listening address (`127.0.0.1`, `::1`, `localhost`, ...) is reachable from this machine only."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


# Same origin only; /docs and /redoc (Swagger UI, ReDoc) start from an inline script or style of their own.
CSP = ("default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
CSP_DOCS = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer",
           "content-security-policy": CSP}


class SecurityHeaders:
    """ASGI middleware: add `HEADERS` to every response (`CSP_DOCS` on the pages under `docs_paths`)."""

    def __init__(self, app, docs_paths=("/docs", "/redoc")):
        self.app, self.docs_paths = app, docs_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(HEADERS, **{"content-security-policy": CSP_DOCS} if scope["path"] in self.docs_paths else {})
        extra = [(k.encode(), v.encode()) for k, v in headers.items()]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, plus a deadline of `head_timeout` seconds for each request head and a lingering close.

    The clock starts when the connection opens and again after each
    response; if the client has not sent a complete request line and headers
    by then, the connection is closed. Where the connection is closed after
    an answer that came before the whole request body (a 408, a 413 for a
    body declared too large), the server's side is shut down (the client
    reads the answer, then the end of the stream) and what the client still
    sends is read and discarded until it closes, `LINGERING_TIMEOUT` seconds
    pass without data, or `LINGERING_TIME` in all (`_LingeringTransport`).
    """

    def __init__(self, *args, head_timeout, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_timeout, self.head_timer = head_timeout, None
        self.lingering, self.linger_end, self.linger_timer = False, 0.0, None

    def connection_made(self, transport):
        super().connection_made(_LingeringTransport(transport, self))
        self._expect_head()

    def on_response_complete(self):
        super().on_response_complete()
        self._expect_head()

    def connection_lost(self, exc):
        for timer in (self.head_timer, self.linger_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data):
        if self.lingering:  # the answer is sent: the rest of the body is discarded
            self._linger()
        else:
            super().data_received(data)

    def eof_received(self):
        if self.lingering:  # the client has read the answer and closed its side
            self.transport.close()
        return super().eof_received()

    def _linger(self):
        """(Re)start the wait for the client's end of the stream: close when it is overdue."""
        if self.linger_timer is not None:
            self.linger_timer.cancel()
        wait = min(LINGERING_TIMEOUT, self.linger_end - self.loop.time())
        self.linger_timer = self.loop.call_later(max(wait, 0.0), self.transport.close)

    def _expect_head(self):
        if self.head_timer is not None:
            self.head_timer.cancel()
        self.head_timer = self.loop.call_later(self.head_timeout, self._head_overdue)

    def _head_overdue(self):
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info("closing a connection that sent no complete request head within %g s", self.head_timeout)
            self.transport.close()


class _LingeringTransport:
    """A connection's asyncio transport whose first `close()`, while the client is still sending its request
    body (h11's `SEND_BODY`), is a lingering close (`HeadTimeoutProtocol`), during which it is closing (to
    uvicorn: no keep-alive, no next request); every other call is the transport's."""

    def __init__(self, transport, protocol):
        self._transport, self._protocol = transport, protocol

    def __getattr__(self, name):
        return getattr(self._transport, name)

    def is_closing(self):
        return self._protocol.lingering or self._transport.is_closing()

    def close(self):
        protocol, transport = self._protocol, self._transport
        sending = protocol.conn.their_state is h11.SEND_BODY
        if protocol.lingering or not sending or transport.is_closing() or not transport.can_write_eof():
            return transport.close()
        protocol.lingering, protocol.linger_end = True, protocol.loop.time() + LINGERING_TIME
        transport.write_eof()  # after the answer still buffered
        transport.resume_reading()
        protocol._linger()


def uvicorn_settings(limits):
    """Keyword arguments of `uvicorn.run` / `uvicorn.Config` that apply `limits` (dict)."""
    return {"http": functools.partial(HeadTimeoutProtocol, head_timeout=limits.head_timeout),
            "timeout_keep_alive": limits.keep_alive, "limit_concurrency": limits.connections,
            "h11_max_incomplete_event_size": limits.head_bytes}
