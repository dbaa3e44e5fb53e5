"""Generation throughput through the real path, against LiteLLM's own ceiling.

Real path: Celery task -> LiteLLM (streaming) -> a local OpenAI-compatible stub answering after
``--latency`` seconds -> database row. Ceiling: bare ``litellm.acompletion`` calls from one
process at the same concurrency against the same kind of stub, measured twice: as plain calls,
and as the same calls carrying the candidate's price (``input_cost_per_token``), which the
worker passes and which spares LiteLLM its price search for an unknown model. The second is
the like-for-like ceiling: the ratio to it is what the database, Redis and Celery cost.
With more than one worker process, bare LiteLLM is also run in that many processes at once:
how far LiteLLM alone scales on this machine, next to how far the workers do.
Prints figures; not a test.
The ceiling is measured again in every round, next to the runs compared with it, and medians
over the rounds are reported: this machine's speed drifts by tens of percent over minutes.

    .venv/bin/python benchmarks/generation.py [--outputs 4000] [--latency 0.2] [--rounds 3]

Uses the configured database and broker (DATABASE_URL, CELERY_BROKER_URL); PostgreSQL and Redis
give the meaningful numbers. The benchmark study is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The README's pool: batches of one process share its event loop and its concurrency.
POOL = os.environ.get("BENCH_POOL", "threads")
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ["TASTETEST_KEY_BENCH"] = "sk-bench"


class Stub:
    """The OpenAI stub in its own process, so that its CPU is not charged to the client."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.openai_stub", "--latency", str(latency)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        self.port = int(line.split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> tuple[int, int]:
        """Stop it; returns (peak requests in flight, requests served), and keeps its median
        service time of an answer (``service_ms``)."""
        time.sleep(1.2)  # let it print a final status line
        self.process.terminate()
        out = self.process.communicate(timeout=10)[0]
        status = r"PEAK (\d+) SERVED (\d+) SERVICE_MEDIAN_MS (\S+)"
        peak, served, service = re.findall(status, out)[-1]
        self.service_ms = float(service)
        return int(peak), int(served)


def start_workers(count: int, threads: int, concurrency: int) -> list[subprocess.Popen]:
    env = {**os.environ, "GENERATION_PROCESS_CONCURRENCY": str(concurrency)}
    workers = []
    for i in range(count):
        log = open(f"/tmp/bench-worker-{i}.log", "w")  # noqa: SIM115
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO"]
                + [f"--pool={POOL}", f"--concurrency={threads}", "--without-gossip"]
                + [
                    "--without-mingle",
                    "--without-heartbeat",
                    "-n",
                    f"bench{i}-{uuid.uuid4().hex[:6]}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 120
    for i in range(count):
        while "ready." not in Path(f"/tmp/bench-worker-{i}.log").read_text():
            if time.monotonic() > deadline:
                raise SystemExit(f"worker {i} did not start; see /tmp/bench-worker-{i}.log")
            time.sleep(0.2)
    return workers


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(timeout=30)


def real_path(n: int, latency: float, concurrency: int, processes: int, threads: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db.models import Max, Min

    from config.celery import app
    from evaluations.generation.starting import generation_start
    from evaluations.models import Candidate, Output, Prompt, ProviderConnection, Study

    app.control.purge()
    stub = Stub(latency)
    workers = start_workers(processes, threads, concurrency)
    owner, _ = get_user_model().objects.get_or_create(username="benchmark")
    run = uuid.uuid4().hex[:8]
    study = Study.objects.create(name=f"Benchmark {run}", slug=f"bench-{run}", owner=owner)
    # The stub on loopback, reached as the operator's connections are.
    ProviderConnection.objects.update_or_create(
        name="benchmark-stub",
        defaults={
            "api_base": stub.base_url,
            "api_key_env": "TASTETEST_KEY_BENCH",
            "available_to_all": True,
        },
    )
    try:
        Candidate.objects.create(
            study=study,
            label="bench",
            model="openai/bench",
            connection="benchmark-stub",
            max_concurrency=concurrency * processes,
            input_price_per_mtok=1,
            output_price_per_mtok=4,
        )
        # Unique texts per run, so that the cache never answers for the stub.
        Prompt.objects.bulk_create(
            Prompt(study=study, external_id=f"b{i}", text=f"Benchmark {run} question {i}?")
            for i in range(n)
        )
        cpu_before = sum(cpu_seconds(w.pid) for w in workers)
        stub_cpu_before = cpu_seconds(stub.process.pid)
        busy_before = machine_busy()
        started = time.monotonic()
        generation_start(study=study)
        outputs = Output.objects.filter(prompt__study=study)
        while outputs.filter(status__in=["pending", "running"]).exists():
            if time.monotonic() - started > 600:
                raise SystemExit("generation did not finish within 10 minutes")
            time.sleep(0.1)
        wall = time.monotonic() - started
        cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu_before
        stub_cpu = cpu_seconds(stub.process.pid) - stub_cpu_before
        busy_after = machine_busy()
        span = outputs.aggregate(first=Min("started_at"), last=Max("finished_at"))
        done = outputs.filter(status="done").count()
        busy = (span["last"] - span["first"]).total_seconds()
        finishes = sorted(
            (t - span["first"]).total_seconds()
            for t in outputs.filter(status="done").values_list("finished_at", flat=True)
        )
        timeline = [0] * (int(busy) + 1)
        for second in finishes:
            timeline[int(second)] += 1
    finally:
        stop_workers(workers)
        peak, served = stub.stop()
        study.delete()
    machine = (busy_after[0] - busy_before[0]) / os.sysconf("SC_CLK_TCK")
    return {
        "done": done,
        "timeline": timeline,
        "wall": wall,
        "busy": busy,
        "peak": peak,
        "cpu": cpu,
        "stub_cpu": stub_cpu,
        "machine_cpu": machine,
        "machine_share": busy_share(busy_before, busy_after),
    }


# The benchmark candidate's price (1 and 4 USD per million tokens), per token.
PRICE = {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6}


async def _bare_calls(numbers, base_url: str, concurrency: int, price: dict) -> None:
    import litellm

    litellm.suppress_debug_info = True
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            stream = await litellm.acompletion(
                model="openai/bare",
                messages=[{"role": "user", "content": f"Bare question {i}?"}],
                api_base=base_url,
                api_key="sk-bench",
                stream=True,
                stream_options={"include_usage": True},
                num_retries=0,
                max_retries=0,
                **price,
            )
            async for _ in stream:
                pass

    await asyncio.gather(*(one(i) for i in numbers))


async def _bare_warm(base_url: str, concurrency: int, price: dict) -> None:
    await _bare_calls(range(min(concurrency, 64)), base_url, concurrency, price)
    gc.freeze()  # as the workers do (config/celery.py): the ceiling is LiteLLM at its best


async def _bare(n: int, base_url: str, concurrency: int, priced: bool) -> tuple[float, float]:
    price = PRICE if priced else {}
    await _bare_warm(base_url, concurrency, price)
    started, cpu = time.monotonic(), time.process_time()
    await _bare_calls(range(n), base_url, concurrency, price)
    return time.monotonic() - started, time.process_time() - cpu


def bare_ceiling(n: int, latency: float, concurrency: int, priced: bool) -> dict:
    stub = Stub(latency)
    try:
        seconds, cpu = asyncio.run(_bare(n, stub.base_url, concurrency, priced))
    finally:
        peak, _ = stub.stop()
    return {"seconds": seconds, "peak": peak, "cpu": cpu}


def bare_ceiling_processes(
    n: int, latency: float, concurrency: int, processes: int
) -> tuple[float, float]:
    """Calls/s of ``processes`` bare-LiteLLM processes at once (priced calls, ``n`` each, one
    shared stub): how LiteLLM alone scales on this machine, with no database, broker or
    Celery. The workers' scaling is compared with it. Returns (calls/s, share of the machine
    busy meanwhile)."""
    stub = Stub(latency)
    children = []
    try:
        for _ in range(processes):
            children.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--bare-child", stub.base_url]
                    + [f"--outputs={n}", f"--concurrency={concurrency}"],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for child in children:  # each has warmed up and waits for the start
            if child.stdout.readline().strip() != "READY":
                raise SystemExit("a bare LiteLLM process did not start")
        busy_before = machine_busy()
        for child in children:
            child.stdin.write("GO\n")
            child.stdin.flush()
        seconds = [float(child.stdout.readline().split()[1]) for child in children]
        busy_after = machine_busy()
    finally:
        for child in children:
            child.kill()
            child.wait()
        stub.stop()
    return n * processes / max(seconds), busy_share(busy_before, busy_after)


def bare_child(base_url: str, n: int, concurrency: int) -> None:
    async def run() -> float:
        await _bare_warm(base_url, concurrency, PRICE)
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.monotonic()
        await _bare_calls(range(n), base_url, concurrency, PRICE)
        return time.monotonic() - started

    print(f"DONE {asyncio.run(run())}", flush=True)


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of the machine's CPU time that was busy between two machine_busy() readings."""
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def main() -> None:
    # Turn SIGTERM into SystemExit so that the finally blocks stop the workers and the stub.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outputs", type=int, default=4000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=128,
        help="requests in flight per worker process (default: GENERATION_PROCESS_CONCURRENCY's)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="batches at once per process (threads pool); they share its loop and concurrency",
    )
    parser.add_argument("--processes", default="1,2", help="worker process counts to run")
    parser.add_argument(
        "--timeline", action="store_true", help="print outputs finished in each second of a run"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds (ceiling, then each process count); medians are reported",
    )
    parser.add_argument("--bare-child", metavar="STUB_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_child:
        bare_child(args.bare_child, args.outputs, args.concurrency)
        return

    import django

    django.setup()
    from django.conf import settings

    print(
        f"generation benchmark: {args.outputs} outputs, stub latency {args.latency * 1000:.0f} ms, "
        f"concurrency {args.concurrency} per process, batch {settings.GENERATION_BATCH_SIZE}, "
        f"db {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
        f"broker {settings.CELERY_BROKER_URL.split(':', 1)[0]}, {os.cpu_count()} cores, "
        f"{args.rounds} rounds"
    )
    counts = [int(p) for p in args.processes.split(",")]
    kinds = ("plain", "priced")
    ceilings: dict[str, list[float]] = {kind: [] for kind in kinds}
    rates: dict[int, list[float]] = {n: [] for n in counts}
    ratios: dict[tuple[int, str], list[float]] = {(n, k): [] for n in counts for k in kinds}
    peaks: dict[int, list[int]] = {n: [] for n in counts}
    bare_scales: dict[int, list[float]] = {n: [] for n in counts[1:]}
    for round_number in range(1, args.rounds + 1):
        # The ceiling is measured in every round, next to the runs it is compared with: this
        # machine's speed drifts by tens of percent over minutes.
        ceiling: dict[str, float] = {}
        for kind in kinds:
            bare = bare_ceiling(args.outputs, args.latency, args.concurrency, kind == "priced")
            ceiling[kind] = args.outputs / bare["seconds"]
            ceilings[kind].append(ceiling[kind])
            print(
                f"round {round_number}: LiteLLM ceiling, {kind} calls (bare acompletion, "
                f"1 process) {ceiling[kind]:6.1f} calls/s, peak in flight {bare['peak']}, "
                f"{bare['cpu'] / args.outputs * 1000:.2f} ms CPU per call"
            )
        for processes in counts[1:]:
            rate, share = bare_ceiling_processes(
                args.outputs, args.latency, args.concurrency, processes
            )
            bare_scales[processes].append(rate / ceiling["priced"])
            print(
                f"round {round_number}: LiteLLM alone, priced calls, {processes} processes at "
                f"once: {rate:6.1f} calls/s, {rate / ceiling['priced']:.2f}x one process; machine "
                f"{share:.0%} busy"
            )
        for processes in counts:
            result = real_path(
                args.outputs, args.latency, args.concurrency, processes, args.threads
            )
            rate = result["done"] / result["busy"]
            cpu_ms = result["cpu"] / result["done"] * 1000
            stub_ms = result["stub_cpu"] / result["done"] * 1000
            rest_ms = result["machine_cpu"] / result["done"] * 1000 - cpu_ms - stub_ms
            rates[processes].append(rate)
            for kind in kinds:
                ratios[processes, kind].append(rate / processes / ceiling[kind])
            peaks[processes].append(result["peak"])
            if args.timeline:
                print(f"    finished per second: {' '.join(map(str, result['timeline']))}")
            print(
                f"  {processes} worker process(es): {rate:6.1f} outputs/s "
                f"({result['done']} done in {result['busy']:.1f} s), peak in flight "
                f"{result['peak']}, per process {rate / processes / ceiling['plain']:.0%} of the "
                f"plain ceiling and {rate / processes / ceiling['priced']:.0%} of the priced one; "
                f"CPU per output: workers {cpu_ms:.2f} ms, stub {stub_ms:.2f} ms, everything "
                f"else (PostgreSQL, Redis, kernel) {rest_ms:.2f} ms; machine "
                f"{result['machine_share']:.0%} busy"
            )
    print("medians:")
    for kind in kinds:
        print(
            f"  LiteLLM ceiling, {kind} calls: {statistics.median(ceilings[kind]):.1f} calls/s "
            "per process"
        )
    for processes in counts:
        print(
            f"  {processes} worker process(es): {statistics.median(rates[processes]):.1f} "
            f"outputs/s, peak in flight {min(peaks[processes])}-{max(peaks[processes])}, per "
            f"process {statistics.median(ratios[processes, 'plain']):.0%} of the plain ceiling "
            f"and {statistics.median(ratios[processes, 'priced']):.0%} of the priced one"
        )
    if len(counts) > 1:
        base = counts[0]
        for processes in counts[1:]:
            scale = [r / b for r, b in zip(rates[processes], rates[base], strict=True)]
            print(
                f"  {processes} processes / {base}: {statistics.median(scale):.2f}x "
                f"(rounds: {', '.join(f'{x:.2f}' for x in scale)}); LiteLLM alone, "
                f"{processes} processes / 1: {statistics.median(bare_scales[processes]):.2f}x "
                f"(rounds: {', '.join(f'{x:.2f}' for x in bare_scales[processes])})"
            )


if __name__ == "__main__":
    main()
