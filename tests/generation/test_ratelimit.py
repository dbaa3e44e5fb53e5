"""The limits that hold across workers; two limiter instances stand for two worker processes."""

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings

from evaluations.generation.limits import LocalLimiter, RedisLimiter


def run(coroutine):
    # On a thread of its own: another test may have left an event loop running on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def redis_url() -> str:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis"):
        pytest.skip("needs a Redis broker (CELERY_BROKER_URL); CI always has one")
    return url


def test_rate_limit_is_shared_by_two_workers():
    url = redis_url()
    key = f"test-{uuid.uuid4().hex}"

    async def scenario() -> list[float]:
        first, second = RedisLimiter(url), RedisLimiter(url)
        stamps: list[float] = []
        start = time.monotonic()

        async def take(limiter) -> None:
            await limiter.rate_wait(key, 3, window=1.0)
            stamps.append(time.monotonic() - start)

        await asyncio.gather(*(take(first if i % 2 else second) for i in range(7)))
        await first.aclose()
        await second.aclose()
        return sorted(stamps)

    stamps = run(scenario())
    # 3 per second: requests 4-6 wait for the first window, request 7 for the second.
    assert stamps[2] < 0.5
    assert stamps[3] >= 0.95
    assert stamps[6] >= 1.95


def test_concurrency_slots_are_shared_by_two_workers():
    url = redis_url()
    key = f"test-{uuid.uuid4().hex}"
    held = 0
    peak = 0

    async def scenario() -> None:
        first, second = RedisLimiter(url), RedisLimiter(url)

        async def hold(limiter) -> None:
            nonlocal held, peak
            async with limiter.slot(key, 2):
                held += 1
                peak = max(peak, held)
                await asyncio.sleep(0.05)
                held -= 1

        await asyncio.gather(*(hold(first if i % 2 else second) for i in range(8)))
        await first.aclose()
        await second.aclose()

    run(scenario())
    assert peak == 2


def test_local_limiter_keeps_the_same_limits_within_a_process():
    key = f"test-{uuid.uuid4().hex}"
    limiter = LocalLimiter()

    async def scenario() -> float:
        start = time.monotonic()
        await asyncio.gather(*(limiter.rate_wait(key, 2, window=0.5) for _ in range(5)))
        return time.monotonic() - start

    assert run(scenario()) >= 0.95


class CountingRedisLimiter(RedisLimiter):
    """A real RedisLimiter that counts how often it goes to Redis for a slot."""

    shared_takes = 0

    async def _shared_take(self, key, limit):
        self.shared_takes += 1
        return await super()._shared_take(key, limit)


class CountingLocalLimiter(LocalLimiter):
    shared_takes = 0

    async def _shared_take(self, key, limit):
        self.shared_takes += 1
        return await super()._shared_take(key, limit)


def limiter_of_kind(kind: str):
    return CountingRedisLimiter(redis_url()) if kind == "redis" else CountingLocalLimiter()


@pytest.mark.parametrize("kind", ["redis", "local"])
def test_a_local_limit_queues_requests_and_hands_slots_over(kind):
    limiter = limiter_of_kind(kind)
    key = f"test-{uuid.uuid4().hex}"
    held = peak = 0
    order: list[int] = []

    async def hold(number: int) -> None:
        nonlocal held, peak
        async with limiter.slot(key, 10, local_limit=2):
            order.append(number)
            held += 1
            peak = max(peak, held)
            await asyncio.sleep(0.02)
            held -= 1

    async def scenario() -> int:
        await asyncio.gather(*(hold(i) for i in range(8)))
        remaining = 0
        if kind == "redis":
            remaining = await limiter._redis.zcard(f"tastetest:slots:{key}")
        await limiter.aclose()
        return remaining

    remaining = run(scenario())
    assert peak == 2
    # The first two go to the shared store together; the rest are served first come, first served.
    assert sorted(order[:2]) == [0, 1]
    assert order[2:] == list(range(2, 8))
    # Two slots were taken from the shared store and handed from request to request.
    assert limiter.shared_takes == 2
    assert remaining == 0
    assert limiter._queues[key].in_use == 0


@pytest.mark.parametrize("kind", ["redis", "local"])
def test_a_request_cancelled_in_the_queue_loses_no_slot(kind):
    limiter = limiter_of_kind(kind)
    key = f"test-{uuid.uuid4().hex}"
    done: list[int] = []

    async def hold(number: int) -> None:
        async with limiter.slot(key, 5, local_limit=1):
            await asyncio.sleep(0.05)
            done.append(number)

    async def scenario() -> int:
        first = asyncio.create_task(hold(0))
        await asyncio.sleep(0.01)
        queued = asyncio.create_task(hold(1))
        last = asyncio.create_task(hold(2))
        await asyncio.sleep(0.01)
        queued.cancel()
        await asyncio.gather(first, last, return_exceptions=True)
        remaining = 0
        if kind == "redis":
            remaining = await limiter._redis.zcard(f"tastetest:slots:{key}")
        await limiter.aclose()
        return remaining

    assert run(scenario()) == 0
    assert done == [0, 2]
    assert limiter._queues[key].in_use == 0
    assert not limiter._queues[key].waiters
