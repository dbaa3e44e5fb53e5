"""Per-candidate concurrency caps and requests-per-minute limits, shared by every worker.

With a Redis broker the limits live in Redis, so they hold across worker processes and
machines: a concurrency slot is a member of a sorted set scored by its expiry (a worker killed
mid-request frees its slots when they expire; live holders refresh them), and the rate limit is
a sliding window of request timestamps over the last 60 seconds. Both use Redis' own clock.

Without Redis (the filesystem broker of a single-machine dev setup) the same limits are kept
in this process only: they are exact with one worker process and per-process with several.

Within one limiter (one per worker process for generation) a slot may also have a local limit:
requests beyond it queue here, first come first served, and a finishing request hands its
shared slot straight to the next one in the queue. Under load the shared store is then asked
only when the queue is empty, not twice per request, and nobody polls for a slot that this
process itself is about to free.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from django.conf import settings

# A killed worker's slots free themselves after this long; live holders refresh them.
SLOT_TTL_SECONDS = float(os.environ.get("GENERATION_SLOT_TTL_SECONDS", "30"))
SLOT_REFRESH_SECONDS = SLOT_TTL_SECONDS / 3
POLL_SECONDS = 0.01
MAX_POLL_SECONDS = 0.2
WINDOW_SECONDS = 60.0

_SLOT_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
  return 1
end
return 0
"""

_SLOT_REFRESH = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
for i = 1, #ARGV - 1 do
  redis.call('ZADD', KEYS[1], 'XX', t + tonumber(ARGV[#ARGV]), ARGV[i])
end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[#ARGV])) + 1)
return 1
"""

# Returns 0 when a request may go now (and records it), else milliseconds to wait.
_RATE_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], t, ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil((tonumber(oldest[2]) + window - t) * 1000))
"""


def _poll_delay(polls: int) -> float:
    # Waiters back off to a few polls per second each, so that hundreds of them do not keep
    # the event loop and Redis busy; jitter spreads them out.
    return min(MAX_POLL_SECONDS, POLL_SECONDS * 2 ** min(polls, 8)) * (0.5 + random.random())


@dataclass
class _LocalQueue:
    in_use: int = 0  # local places taken, each holding a shared slot or about to
    waiters: deque[asyncio.Future] = field(default_factory=deque)


class Limiter:
    """Async limits for one event loop; ``key`` identifies a candidate across processes."""

    def __init__(self) -> None:
        self._queues: dict[str, _LocalQueue] = defaultdict(_LocalQueue)

    @contextlib.asynccontextmanager
    async def slot(
        self, key: str, limit: int, local_limit: int | None = None
    ) -> AsyncIterator[None]:
        """Hold one of ``limit`` slots shared by every process, and one of ``local_limit``
        places of this limiter (default: ``limit``)."""
        queue = self._queues[key]
        local = min(limit, local_limit or limit)
        token = await self._slot_take(key, queue, limit, local)
        try:
            yield
        finally:
            # Given back even if the request was cancelled: the slot must not wait for its TTL.
            await asyncio.shield(self._slot_give(key, queue, token))

    async def _slot_take(self, key: str, queue: _LocalQueue, limit: int, local: int) -> object:
        if queue.in_use >= local or queue.waiters:
            waiter = asyncio.get_running_loop().create_future()
            queue.waiters.append(waiter)
            try:
                token = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    await self._slot_give(key, queue, waiter.result())  # handed over too late
                else:
                    queue.waiters.remove(waiter)
                raise
            if token is not None:
                return token
            # A place without a shared slot (its previous holder failed to get one): ours to
            # get, the place already counted.
        else:
            queue.in_use += 1
        try:
            return await self._shared_take(key, limit)
        except BaseException:
            await self._slot_give(key, queue, None)
            raise

    async def _slot_give(self, key: str, queue: _LocalQueue, token: object) -> None:
        while queue.waiters:
            waiter = queue.waiters.popleft()
            if not waiter.done():
                waiter.set_result(token)  # the next in line takes the slot as it is
                return
        queue.in_use -= 1
        if token is not None:
            await self._shared_give(key, token)

    async def _shared_take(self, key: str, limit: int) -> object:
        """Wait for one of ``limit`` slots shared by every process; returns its token."""
        raise NotImplementedError

    async def _shared_give(self, key: str, token: object) -> None:
        raise NotImplementedError

    async def rate_wait(self, key: str, per_minute: int, window: float = WINDOW_SECONDS) -> None:
        """Wait until a request may go without exceeding ``per_minute`` per ``window`` s."""
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class RedisLimiter(Limiter):
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis_async

        super().__init__()
        # A blocking pool: hundreds of coroutines share a few connections and wait their turn
        # instead of failing with "Too many connections".
        pool = redis_async.BlockingConnectionPool.from_url(url, max_connections=16, timeout=None)
        self._redis = redis_async.Redis(connection_pool=pool)
        self._acquire = self._redis.register_script(_SLOT_ACQUIRE)
        self._refresh = self._redis.register_script(_SLOT_REFRESH)
        self._rate = self._redis.register_script(_RATE_TAKE)
        self._held: dict[str, set[str]] = defaultdict(set)
        self._refresher: asyncio.Task | None = None

    async def _shared_take(self, key: str, limit: int) -> object:
        token = secrets.token_hex(8)
        name = f"tastetest:slots:{key}"
        polls = 0
        while not await self._acquire(keys=[name], args=[limit, SLOT_TTL_SECONDS, token]):
            await asyncio.sleep(_poll_delay(polls))
            polls += 1
        self._held[name].add(token)
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever())
        return token

    async def _shared_give(self, key: str, token: object) -> None:
        name = f"tastetest:slots:{key}"
        self._held[name].discard(token)
        await self._redis.zrem(name, token)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(SLOT_REFRESH_SECONDS)
            for name, tokens in list(self._held.items()):
                if tokens:
                    await self._refresh(keys=[name], args=[*tokens, SLOT_TTL_SECONDS])

    async def rate_wait(self, key: str, per_minute: int, window: float = WINDOW_SECONDS) -> None:
        name = f"tastetest:rpm:{key}"
        while True:
            wait_ms = await self._rate(keys=[name], args=[per_minute, window, secrets.token_hex(8)])
            if not wait_ms:
                return
            await asyncio.sleep(wait_ms / 1000 + random.random() * POLL_SECONDS)

    async def aclose(self) -> None:
        if self._refresher:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self._redis.aclose()


class _LocalState:
    lock = threading.Lock()
    slots: dict[str, int] = defaultdict(int)
    stamps: dict[str, list[float]] = defaultdict(list)


class LocalLimiter(Limiter):
    """The same limits within this process only (see the module docstring)."""

    async def _shared_take(self, key: str, limit: int) -> object:
        polls = 0
        while True:
            with _LocalState.lock:
                if _LocalState.slots[key] < limit:
                    _LocalState.slots[key] += 1
                    return key
            await asyncio.sleep(_poll_delay(polls))
            polls += 1

    async def _shared_give(self, key: str, token: object) -> None:
        with _LocalState.lock:
            _LocalState.slots[key] -= 1

    async def rate_wait(self, key: str, per_minute: int, window: float = WINDOW_SECONDS) -> None:
        while True:
            with _LocalState.lock:
                now = time.monotonic()
                stamps = [t for t in _LocalState.stamps[key] if t > now - window]
                _LocalState.stamps[key] = stamps
                if len(stamps) < per_minute:
                    stamps.append(now)
                    return
                wait = stamps[0] + window - now
            await asyncio.sleep(wait + random.random() * POLL_SECONDS)


def limiter_for_current_settings() -> Limiter:
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")):
        return RedisLimiter(broker)
    return LocalLimiter()
