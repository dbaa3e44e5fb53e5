"""The provider's latency: from the request written to the answer's bytes received.

Timing the whole ``litellm.acompletion`` call counts the client's own work: LiteLLM's steps
before it sends, and after the bytes arrived its per-chunk parsing and bookkeeping, and every
wait of a busy event loop (other calls' LiteLLM work) before this call's bytes are even read.
So the times are taken below LiteLLM, on the connection itself. LiteLLM sends through the
aiohttp session it is given (``timed_session``); that session's request class
(``TimedRequest``) hands the calling task's ``RequestMarks`` (``request_marks``) to the
connection's protocol (``TimedResponseHandler``), which notes every arrival of the answer's
bytes.

On Linux the times are the kernel's (``TCP_INFO``: how long ago the connection last sent and
last received data, in milliseconds, to the kernel's tick of 1 to 4 ms), so that a loop that
reads the socket late does not make the provider look slow; elsewhere, when the bytes were read
and when the headers were handed to aiohttp.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import functools
import socket
import struct
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.connector import Connection

# struct tcp_info (linux/tcp.h): 8 one-byte fields, then 32-bit fields of which the 10th is
# tcpi_last_data_sent and the 12th tcpi_last_data_recv (milliseconds ago).
_TCP_INFO = struct.Struct("8x12I")
_LAST_DATA_SENT, _LAST_DATA_RECV = 9, 11
_CLOCK_MONOTONIC_COARSE = 6  # Linux; not in the time module


def _kernel_tick() -> float:
    """The kernel's tick in seconds: TCP_INFO's times are counted in it."""
    try:
        return time.clock_getres(_CLOCK_MONOTONIC_COARSE)
    except (AttributeError, OSError):
        return 0.004  # the coarsest usual (250 Hz)


_TICK = _kernel_tick()


@dataclass
class RequestMarks:
    """One request's times, in ``time.perf_counter()`` seconds."""

    sent: float | None = None  # the request's last byte sent
    # (bytes of the answer's body received by then, when), per arrival of bytes
    arrivals: list[tuple[int, float]] = field(default_factory=list)
    body: aiohttp.StreamReader | None = None
    protocol: TimedResponseHandler | None = None

    def exchange_begin(self, protocol: TimedResponseHandler) -> None:
        # A retry or redirect inside the client sends again: timed from the last send.
        self.sent, self.arrivals, self.body, self.protocol = None, [], None, protocol

    @property
    def last_received(self) -> float | None:
        return self.arrivals[-1][1] if self.arrivals else None

    def read_so_far_received(self) -> float | None:
        """When the last byte the client has read of the body so far had arrived: for the
        first token, as soon as the client's parser shows it."""
        if not self.arrivals:
            return None
        consumed = getattr(self.body, "_cursor", None)  # bytes handed to the reader
        if consumed is None:
            return self.last_received
        for received, at in self.arrivals:
            if received >= consumed:
                return at
        return self.last_received


request_marks: contextvars.ContextVar[RequestMarks | None] = contextvars.ContextVar(
    "request_marks", default=None
)


def _kernel_ago(protocol: asyncio.BaseProtocol) -> tuple[float, float] | None:
    """How long ago (seconds, counted in ticks) the protocol's TCP connection last sent and last
    received data, from the kernel."""
    transport = getattr(protocol, "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size)
        info = _TCP_INFO.unpack_from(raw)
    except (OSError, struct.error):
        return None
    return info[_LAST_DATA_SENT] / 1000, info[_LAST_DATA_RECV] / 1000


class TimedResponseHandler(ResponseHandler):
    """aiohttp's protocol for a connection, noting when the current request's answer arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.marks: RequestMarks | None = None
        self._earlier_body: aiohttp.StreamReader | None = None

    def exchange_begin(self, marks: RequestMarks | None) -> None:
        self.marks = marks
        self._earlier_body = self._payload  # the previous answer's, on a reused connection
        if marks is not None:
            marks.exchange_begin(self)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        kernel = _kernel_ago(self)
        super().data_received(data)
        marks = self.marks
        if marks is None or marks.protocol is not self:
            return
        if kernel is None:
            received = now
        else:
            sent_ago, received_ago = kernel
            received = now - received_ago
            if not marks.arrivals:
                handed = marks.sent or now  # when aiohttp had the request (``_headers_sent``)
                if sent_ago > received_ago:
                    # Rounded to the tick, the kernel's time may fall before that bound.
                    marks.sent = max(now - sent_ago, handed)
                else:  # sent and answered within one tick: our own clock says how soon
                    marks.sent = received - min(now - handed, _TICK)
            # Each reading is rounded to the tick: kept in order.
            received = max(received, marks.last_received or received, marks.sent)
        if marks.body is None and self._payload is not self._earlier_body:
            marks.body = self._payload
        marks.arrivals.append((marks.body.total_bytes if marks.body else 0, received))


class TimedRequest(aiohttp.ClientRequest):
    """aiohttp's request, handing the calling task's marks to the connection it is sent on."""

    async def send(self, conn: Connection) -> aiohttp.ClientResponse:
        protocol = conn.protocol
        if isinstance(protocol, TimedResponseHandler):
            protocol.exchange_begin(request_marks.get())
        return await super().send(conn)


async def _headers_sent(session, context, params) -> None:
    # When aiohttp took the request to send, just before it wrote it: where the kernel's time
    # is not to be had, the time sent; otherwise a bound on it.
    marks = request_marks.get()
    if marks is not None and marks.sent is None:
        marks.sent = time.perf_counter()


class _TimedConnector(aiohttp.TCPConnector):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        # aiohttp takes no protocol class as an argument; it builds every connection's
        # protocol with this factory (the tests of request timing fail if that changes).
        self._factory = functools.partial(TimedResponseHandler, loop=self._loop)


_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def timed_session() -> aiohttp.ClientSession:
    """This event loop's session for provider calls (one per loop, kept for its lifetime)."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        for stale in [other for other in _sessions if other.is_closed()]:
            del _sessions[stale]
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_headers_sent)
        # No connection limit of its own: the candidates' concurrency caps bound the calls.
        session = aiohttp.ClientSession(
            connector=_TimedConnector(limit=0),
            request_class=TimedRequest,
            trace_configs=[trace],
            trust_env=True,
        )
        _sessions[loop] = session
    return session


@atexit.register
def _sessions_close() -> None:
    # Closed while their loops still run, instead of complaining while Python shuts down.
    for loop, session in list(_sessions.items()):
        if session.closed or loop.is_closed() or not loop.is_running():
            continue
        with contextlib.suppress(Exception):  # exiting anyway
            asyncio.run_coroutine_threadsafe(session.close(), loop).result(timeout=2)
