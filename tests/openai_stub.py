"""A real HTTP server on 127.0.0.1 that speaks OpenAI's chat-completions API.

LiteLLM talks to it through ``api_base`` exactly as it would to a provider (``openai/<name>``),
so tests exercise the real client path: HTTP, SSE streaming, usage blocks, error mapping.

Behaviour is chosen per model name, so concurrent requests for different candidates do not
interfere: ``stub.plan("flaky", ["429", "500", "ok"])`` makes the next three requests for model
``flaky`` answer 429, then 500, then normally. Modes:

- ``ok``: a normal answer (streamed as SSE when the request asks for ``stream``)
- ``429``: Too Many Requests with ``Retry-After: <stub.retry_after>``
- ``500`` / ``503``: a server error; ``400`` / ``401``: a client error
- ``garbage``: status 200 with a body that is not JSON
- ``slow``: a normal answer after ``stub.slow_seconds``
- ``hang``: accept the request and never answer

The Files and Batch APIs (``/v1/files``, ``/v1/batches``) are in ``tests/openai_stub_batches.py``.

A reply may be a ``StubReply`` giving the probabilities of alternative tokens at chosen
offsets of its text. When the request asks for ``logprobs`` (with ``top_logprobs``), every
streamed chunk carries the log-probabilities of its tokens, as OpenAI's do: a token the reply
gives no alternatives for has log-probability 0 and is its own only alternative.

Every request is recorded (model, messages, stream, mode, headers) and the server tracks how many
requests it had in flight at once (``peak_in_flight``) and its own service time of each answer,
from the request read to the answer's last byte written (``service_seconds``).

Run it standalone (the benchmark does) with ``python -m tests.openai_stub --latency 0.2``; it
prints ``PORT <n>`` once listening, then every second a status line with the peak in flight, the
requests served and the median service time in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import statistics
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.openai_stub_batches import BatchEndpoints

MODES = {"ok", "429", "500", "503", "400", "401", "garbage", "slow", "hang"}


@dataclass
class StubRequest:
    model: str
    messages: list[dict]
    stream: bool
    mode: str
    body: dict
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    received_at: float = field(default_factory=time.monotonic)

    @property
    def last_user_text(self) -> str:
        users = [m.get("content", "") for m in self.messages if m.get("role") == "user"]
        return str(users[-1]) if users else ""


@dataclass
class StubReply:
    text: str
    # {offset in text where a token starts: {token: probability}}; the token found at that
    # offset must be among them.
    alternatives: dict[int, dict[str, float]] = field(default_factory=dict)


# Roughly how BPE vocabularies cut text: "[[", "A", "]]", " word", " 12", spaces, punctuation.
_TOKEN = re.compile(r"\[\[|\]\]| ?[A-Za-z]+| ?\d+|\s+|.", re.DOTALL)


def token_logprobs(reply: StubReply, start: int, text: str, top: int) -> list[dict]:
    """OpenAI's logprobs.content entries for `text`, found at offset `start` of the reply."""
    entries = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        options = reply.alternatives.get(start + match.start(), {token: 1.0})
        ranked = sorted(options.items(), key=lambda kv: -kv[1])[:top]
        entries.append(
            {
                "token": token,
                "logprob": math.log(options[token]),
                "bytes": list(token.encode()),
                "top_logprobs": [
                    {"token": alt, "logprob": math.log(p), "bytes": list(alt.encode())}
                    for alt, p in ranked
                ],
            }
        )
    return entries


def default_reply(request: StubRequest) -> str:
    return f"Answer from {request.model}: {request.last_user_text[::-1]}"


class OpenAIStub(BatchEndpoints):
    """The server; start() binds an ephemeral port and serves from a background thread."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        reply: Callable[[StubRequest], str | StubReply] = default_reply,
    ) -> None:
        self.latency = latency
        self.chunk_delay = chunk_delay
        # A stream opens (headers and a role-only event) before the delay, as vLLM's does.
        self.opens_early = False
        self.reply = reply
        self.retry_after = 1
        self.slow_seconds = 2.0
        self.served_as: dict[str, str] = {}  # model requested -> model the response reports
        self.requests: list[StubRequest] = []
        self.received_headers: list[dict[str, str]] = []  # of every request, on any path
        self.in_flight = 0
        self.peak_in_flight = 0
        self.service_seconds: list[float] = []
        self.port = 0
        self._plans: dict[str, deque[str]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self.batch_endpoints_reset()

    # -- control -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def plan(self, model: str, modes: list[str]) -> None:
        """Queue the modes of the next requests for ``model`` (then back to ``ok``)."""
        unknown = set(modes) - MODES
        if unknown:
            raise ValueError(f"unknown stub modes: {sorted(unknown)}")
        with self._lock:
            self._plans[model].extend(modes)

    def always(self, model: str, mode: str, times: int = 10_000) -> None:
        self.plan(model, [mode] * times)

    def requests_for(self, model: str) -> list[StubRequest]:
        with self._lock:
            return [r for r in self.requests if r.model == model]

    def reset(self) -> None:
        """Forget requests and plans, and end hanging requests (closing their connections)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._release_hangs)
            deadline = time.monotonic() + 5
            while self.in_flight and time.monotonic() < deadline:
                time.sleep(0.01)
        with self._lock:
            self.requests.clear()
            self.received_headers.clear()
            self.service_seconds.clear()
            self._plans.clear()
            self.peak_in_flight = self.in_flight
            self.batch_endpoints_reset()

    def reset_hangs(self) -> None:
        """End hanging requests (their connections close unanswered), keeping the record."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._release_hangs)

    def _release_hangs(self) -> None:
        self._hang_release.set()
        self._hang_release = asyncio.Event()

    def _next_mode(self, model: str) -> str:
        with self._lock:
            plan = self._plans.get(model)
            return plan.popleft() if plan else "ok"

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> OpenAIStub:
        self._thread = threading.Thread(target=self._run, name="openai-stub", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout=10):
            raise RuntimeError("the OpenAI stub did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop and self._server:
            self._loop.call_soon_threadsafe(self._server.close)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._hang_release = asyncio.Event()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            # Drop hanging connections so that clients see them close.
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    # -- HTTP ---------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                headers: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                received = time.perf_counter()
                method, path, _ = request_line.decode("latin-1").split(" ", 2)
                with self._lock:
                    self.received_headers.append(dict(headers))
                keep_alive = await self._respond(method, path, body, writer, headers)
                if keep_alive:  # answered (a hanging request is closed unanswered)
                    with self._lock:
                        self.service_seconds.append(time.perf_counter() - received)
                if not keep_alive or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _respond(
        self,
        method: str,
        path: str,
        body: bytes,
        writer: asyncio.StreamWriter,
        headers: dict[str, str] | None = None,
    ) -> bool:
        if self.handles_batch_path(path):
            return await self.batch_respond(method, path, body, headers or {}, writer)
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            await self._send_json(writer, 404, {"error": {"message": f"no route {path}"}})
            return True
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            await self._send_json(writer, 400, {"error": {"message": "body is not JSON"}})
            return True
        model = str(payload.get("model", ""))
        mode = self._next_mode(model)
        request = StubRequest(
            model=model,
            messages=list(payload.get("messages") or []),
            stream=bool(payload.get("stream")),
            mode=mode,
            body=payload,
            headers=dict(headers or {}),
        )
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._answer(request, writer)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _answer(self, request: StubRequest, writer: asyncio.StreamWriter) -> bool:
        mode = request.mode
        if mode == "hang":
            await self._hang_release.wait()
            return False  # close the connection without an answer
        opens_early = self.opens_early and mode == "ok" and request.stream
        if self.latency and not opens_early:
            await asyncio.sleep(self.latency)
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        if mode == "429":
            await self._send_json(
                writer,
                429,
                {"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}},
                extra_headers={"Retry-After": str(self.retry_after)},
            )
            return True
        if mode in {"500", "503", "400", "401"}:
            messages = {
                "500": "The server had an error",
                "503": "Overloaded",
                "400": "Invalid request: bad parameter",
                "401": "Incorrect API key provided",
            }
            await self._send_json(
                writer, int(mode), {"error": {"message": messages[mode], "type": "stub_error"}}
            )
            return True
        if mode == "garbage":
            await self._send(writer, 200, b"<html>upstream proxy error</html>", "text/html")
            return True

        reply = self.reply(request)
        reply = reply if isinstance(reply, StubReply) else StubReply(reply)
        text = reply.text
        wants_logprobs = bool(request.body.get("logprobs"))
        top = int(request.body.get("top_logprobs") or 0)
        served = self.served_as.get(request.model, request.model)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.messages)
        completion_tokens = len(text.split())
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        ident = f"chatcmpl-stub{len(self.requests)}"
        created = int(time.time())
        if not request.stream:
            await self._send_json(
                writer,
                200,
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": served,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                            "logprobs": {"content": token_logprobs(reply, 0, text, top)}
                            if wants_logprobs
                            else None,
                        }
                    ],
                    "usage": usage,
                },
            )
            return True

        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        )

        def event(data: dict | str) -> bytes:
            raw = "data: " + (data if isinstance(data, str) else json.dumps(data)) + "\n\n"
            encoded = raw.encode()
            return f"{len(encoded):x}\r\n".encode() + encoded + b"\r\n"

        def chunk(delta: dict, finish: str | None = None, logprobs: list | None = None) -> dict:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            if logprobs is not None:
                choice["logprobs"] = {"content": logprobs}
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": served,
                "choices": [choice],
            }

        words = text.split(" ")
        pieces = [" ".join(words[i : i + 8]) for i in range(0, len(words), 8)]
        if opens_early:
            writer.write(event(chunk({"role": "assistant", "content": ""})))
            await writer.drain()
            await asyncio.sleep(self.latency)
        offset = 0
        for index, piece in enumerate(pieces):
            content = piece if index == 0 else " " + piece
            delta = (
                {"role": "assistant", "content": content}
                if index == 0 and not opens_early
                else {"content": content}
            )
            logprobs = token_logprobs(reply, offset, content, top) if wants_logprobs else None
            offset += len(content)
            writer.write(event(chunk(delta, logprobs=logprobs)))
            await writer.drain()
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        writer.write(event(chunk({}, "stop")))
        include_usage = (request.body.get("stream_options") or {}).get("include_usage")
        if include_usage:
            writer.write(event({**chunk({}), "choices": [], "usage": usage}))
        writer.write(event("[DONE]"))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _send_json(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        payload: dict,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        await self._send(
            writer, status, json.dumps(payload).encode(), "application/json", extra_headers
        )

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        reasons = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
        reasons |= {429: "Too Many Requests", 500: "Internal Server Error", 503: "Unavailable"}
        head = [
            f"HTTP/1.1 {status} {reasons.get(status, 'Status')}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            "Connection: keep-alive",
        ]
        head += [f"{k}: {v}" for k, v in (extra_headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before answering")
    args = parser.parse_args()
    stub = OpenAIStub(latency=args.latency).start()
    print(f"PORT {stub.port}", flush=True)
    try:
        while True:
            time.sleep(1)
            # The parent reads peak concurrency from here once it is done.
            with stub._lock:
                service = list(stub.service_seconds)
            median_ms = statistics.median(service) * 1000 if service else float("nan")
            print(
                f"PEAK {stub.peak_in_flight} SERVED {len(stub.requests)} "
                f"SERVICE_MEDIAN_MS {median_ms:.1f}",
                flush=True,
            )
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
