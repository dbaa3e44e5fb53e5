"""The provider's latency, timed from the moment the request was written.

Timing the whole ``litellm.acompletion`` call counts LiteLLM's own work before it sends the
request (a tokenizer lookup, cost bookkeeping, a stall of a busy event loop). LiteLLM sends
through the aiohttp session it is given (``shared_session``); that session's trace hook notes
when the request went out on the calling task's context (``request_marks``), and
``provider_call`` times the first token and the end of the answer from there.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import time
from dataclasses import dataclass

import aiohttp


@dataclass
class RequestMarks:
    sent: float | None = None


request_marks: contextvars.ContextVar[RequestMarks | None] = contextvars.ContextVar(
    "request_marks", default=None
)


async def _headers_sent(session, context, params) -> None:
    marks = request_marks.get()
    if marks is not None:
        # A retry inside the client sends again: the answer is timed from the last send.
        marks.sent = time.perf_counter()


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
            connector=aiohttp.TCPConnector(limit=0), trace_configs=[trace], trust_env=True
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
