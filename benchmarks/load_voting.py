"""Load test of voting: N raters, each looping "vote, and vote on the next pair" against gunicorn.

Starts gunicorn with config/gunicorn.conf.py in production mode (DEBUG off, manifest static
files) on an ephemeral port, pointed at its own PostgreSQL database (tastetest_load by default,
dropped and recreated), seeds one open study per concurrency level, signs each rater in (a
session row, as after a real login) and drives exactly what the browser does: GET the study
page once, then POST the vote form with the CSRF token and the X-Requested-With header the
page's script sends; its response is the next panel, whose pair is voted on next (the page is
loaded again only after an error; --reload-page loads it before every vote, the loop of runs
before the CPU figures). It prints throughput, latency percentiles and errors, the CPU per
acknowledged vote of gunicorn (master and workers, from /proc) and of the PostgreSQL backends
it opened (told apart by application_name), the load client's and the rest of the machine's
share, then compares the votes in the database with the votes the clients saw acknowledged:
none may be lost, none duplicated, no pair above its target.

    .venv/bin/python benchmarks/load_voting.py              # 200 raters, 60 s, ~20 s per pair
    .venv/bin/python benchmarks/load_voting.py --think 0 --sweep 5,10,20,40 --duration 15
    # the same levels against the code of another commit, served alongside in the same run:
    .venv/bin/python benchmarks/load_voting.py --think 0 --sweep 40 --reference 0ba5b38
    .venv/bin/python benchmarks/load_voting.py --think 0 --sweep 40 --duration 10 --rounds 3 \
        --reference 0ba5b38     # the two trees take turns, three rounds each

With --reference, that commit's tree (git archive, nothing in the repository changes) is served
by a second gunicorn with the same settings, on the same database, with the same virtualenv;
each level runs against it and then against this tree (--rounds times, taking turns), and two
lines compare them: throughput, which other jobs on a shared machine move, and CPU per vote,
which they move much less.

Needs PostgreSQL (PG_URL, default postgres://postgres@127.0.0.1:5432) and, for sessions and
rate limits shared across workers, Redis (CACHE_URL, default redis://127.0.0.1:6379/7).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PAIR_RE = re.compile(r'name="pair" value="([^"]+)"')
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SECRET_KEY = secrets.token_urlsafe(50)
TLS_CONTEXT = ssl.create_default_context()  # unused over http://, but httpx builds one per client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _setup_django(database_url: str, cache_url: str) -> None:
    os.environ.update(
        DATABASE_URL=database_url,
        CACHE_URL=cache_url,
        SECRET_KEY=SECRET_KEY,
        DEBUG="0",
        SECURE="0",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _recreate_database(pg_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args, "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )


@dataclass
class Seeded:
    study_id: int
    votes_per_pair: int
    pairs: int
    cookies: list[dict[str, str]]
    rater_ids: list[int]


def study_seed(*, raters: int, prompts: int, candidates: int, votes_per_pair: int) -> Seeded:
    """An open study with every candidate pair on every prompt, and signed-in raters."""
    from importlib import import_module
    from itertools import combinations

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.db import transaction

    from evaluations.models import Candidate, Output, Pair, Prompt, Study
    from raters.models import Membership, Rater

    tag = secrets.token_hex(4)
    with transaction.atomic():
        owner = User.objects.create(username=f"owner-{tag}", is_staff=True)
        study = Study.objects.create(
            name=f"Load {tag}",
            slug=f"load-{tag}",
            owner=owner,
            votes_per_pair=votes_per_pair,
            status=Study.Status.OPEN,
            seed=7,
        )
        cands = Candidate.objects.bulk_create(
            Candidate(study=study, label=f"m{k}", model=f"demo/m{k}") for k in range(candidates)
        )
        prompt_rows = Prompt.objects.bulk_create(
            Prompt(study=study, external_id=f"q{k}", text=f"Question **{k}**: explain `x{k}`.")
            for k in range(prompts)
        )
        outputs = Output.objects.bulk_create(
            Output(
                prompt=p,
                candidate=c,
                status=Output.Status.DONE,
                text=f"Answer of {c.label} to {p.external_id}.\n\n- point one\n- point two",
            )
            for p in prompt_rows
            for c in cands
        )
        by_prompt: dict[int, list[Output]] = {}
        for output in outputs:
            by_prompt.setdefault(output.prompt_id, []).append(output)
        pairs = Pair.objects.bulk_create(
            Pair(study=study, prompt_id=prompt_id, output_a=a, output_b=b)
            for prompt_id, outs in by_prompt.items()
            for a, b in combinations(outs, 2)
        )
        # One hash for all: hashing a password per rater would take minutes and test nothing.
        password = make_password(secrets.token_urlsafe(16))
        users = User.objects.bulk_create(
            User(username=f"rater-{tag}-{k}", password=password) for k in range(raters)
        )
        rater_rows = Rater.objects.bulk_create(
            Rater(user=u, display_name=u.username) for u in users
        )
        Membership.objects.bulk_create(Membership(rater=r, study=study) for r in rater_rows)
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    cookies = []
    for user in users:
        session = store_class()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        cookies.append({settings.SESSION_COOKIE_NAME: session.session_key})
    # What autovacuum does to a study that has been set up for a minute: planner statistics
    # and the visibility map. Without it the first minute measures a freshly bulk-loaded table.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return Seeded(
        study_id=study.pk,
        votes_per_pair=votes_per_pair,
        pairs=len(pairs),
        cookies=cookies,
        rater_ids=[r.pk for r in rater_rows],
    )


@dataclass
class Stats:
    vote_ms: list[float] = field(default_factory=list)
    next_ms: list[float] = field(default_factory=list)
    # (seconds since the level started, latency ms) of every request, for the per-window view.
    timeline: list[tuple[float, float]] = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)
    errors: Counter = field(default_factory=Counter)
    acked: set[tuple[int, str]] = field(default_factory=set)
    repeats: int = 0
    exhausted: int = 0


async def rater_loop(
    *,
    base: str,
    study_id: int,
    rater_id: int,
    cookies: dict[str, str],
    deadline: float,
    think: float,
    stats: Stats,
    choice: str,
    reload_page: bool,
) -> None:
    rng = random.Random(rater_id)
    page = f"{base}/studies/{study_id}/"
    vote = f"{base}/studies/{study_id}/vote/"
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    # The client is made before anyone starts: making one costs tens of milliseconds of CPU
    # (its TLS context), which would stall this event loop while other raters' requests are
    # being timed.
    async with httpx.AsyncClient(
        cookies=cookies, timeout=30.0, limits=limits, verify=TLS_CONTEXT
    ) as client:
        if think:
            # Raters arrive spread over one reading time, not all in the same millisecond.
            await asyncio.sleep(rng.uniform(0, think))
        # The panel on screen: the page's, then each vote's answer (the page's script swaps it
        # in). None: load the page, as the browser does first and after an error.
        panel: str | None = None
        while time.monotonic() < deadline:
            if panel is None:
                started = time.perf_counter()
                try:
                    response = await client.get(page)
                except httpx.HTTPError as error:
                    stats.errors[f"next: {type(error).__name__}"] += 1
                    continue
                stats.next_ms.append((time.perf_counter() - started) * 1000)
                stats.timeline.append((started - stats.t0, stats.next_ms[-1]))
                if response.status_code != 200:
                    stats.errors[f"next: HTTP {response.status_code}"] += 1
                    continue
                panel = response.text
            pair = PAIR_RE.search(panel)
            token = CSRF_RE.search(panel)
            if pair is None or token is None:
                stats.exhausted += 1
                return
            panel = None
            if think:
                # People read at different speeds: 0.5x to 1.5x the mean, seeded per rater.
                await asyncio.sleep(think * rng.uniform(0.5, 1.5))
            data = {
                "csrfmiddlewaretoken": token.group(1),
                "pair": pair.group(1),
                "choice": choice,
                "time_spent_ms": str(int(think * 1000)),
                "rationale": "",
            }
            started = time.perf_counter()
            try:
                response = await client.post(
                    vote, data=data, headers={"X-Requested-With": "fetch", "Referer": page}
                )
            except httpx.HTTPError as error:
                stats.errors[f"vote: {type(error).__name__}"] += 1
                continue
            stats.vote_ms.append((time.perf_counter() - started) * 1000)
            stats.timeline.append((started - stats.t0, stats.vote_ms[-1]))
            if response.status_code != 200:
                stats.errors[f"vote: HTTP {response.status_code}"] += 1
                continue
            if "Vote recorded." in response.text:
                stats.acked.add((rater_id, pair.group(1)))
            elif "That vote was already recorded." in response.text:
                stats.repeats += 1
                stats.acked.add((rater_id, pair.group(1)))
            else:
                stats.errors["vote: not acknowledged"] += 1
                continue
            if not reload_page:
                panel = response.text  # it carries the next pair


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (the first is the state)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _proc_cpu(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU seconds of a process, all its threads; with reaped_children, plus
    those of the children it has waited for (the workers gunicorn's master recycled)."""
    fields = _proc_stat(pid)
    if fields is None:
        return 0.0
    # proc(5): utime, stime, cutime, cstime are fields 14-17, here 11-14.
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def _process_tree_cpu(pid: int) -> float:
    """A gunicorn master with its live and its reaped workers."""
    total = _proc_cpu(pid, reaped_children=True)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _proc_stat(entry)
            if fields is not None and int(fields[1]) == pid:
                total += _proc_cpu(int(entry))
    return total


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU used during a level by one gunicorn (master and workers) and by the PostgreSQL
    backends it opened (told apart by application_name, set through PGAPPNAME), and by this
    load client. Backends are sampled every half second, so one that exits during the level
    (a connection past DATABASE_CONN_MAX_AGE) still counts up to its last sample."""

    def __init__(self, *, server_pid: int, app_name: str, pg_url: str) -> None:
        import psycopg

        self.server_pid = server_pid
        self.app_name = app_name
        self.conn = psycopg.connect(f"{pg_url}/postgres", autocommit=True)
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.done = threading.Event()

    def _backends(self) -> dict[int, float]:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [self.app_name]
        ).fetchall()
        return {pid: _proc_cpu(pid) for (pid,) in rows}

    def _sample(self) -> None:
        for pid, cpu in self._backends().items():
            self.first.setdefault(pid, 0.0)  # opened during the level: all of it counts
            self.last[pid] = cpu

    def _run(self) -> None:
        while not self.done.wait(0.5):
            self._sample()

    def __enter__(self) -> CpuMeter:
        self.first = self._backends()
        self.last = dict(self.first)
        self.server0 = _process_tree_cpu(self.server_pid)
        self.client0 = resource.getrusage(resource.RUSAGE_SELF)
        self.machine0 = _machine_ticks()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
        self._sample()
        self.server = _process_tree_cpu(self.server_pid) - self.server0
        self.postgres = sum(self.last[pid] - self.first[pid] for pid in self.last)
        client = resource.getrusage(resource.RUSAGE_SELF)
        self.client = (client.ru_utime - self.client0.ru_utime) + (
            client.ru_stime - self.client0.ru_stime
        )
        busy, total = _machine_ticks()
        self.machine_busy = (busy - self.machine0[0]) / CLOCK_TICKS
        self.machine_total = (total - self.machine0[1]) / CLOCK_TICKS
        self.conn.close()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _line(name: str, values: list[float]) -> str:
    if not values:
        return f"  {name:<10} no samples"
    return (
        f"  {name:<10} n={len(values):>6}  mean={statistics.fmean(values):6.1f}  "
        f"p50={_pct(values, 50):6.1f}  p95={_pct(values, 95):6.1f}  "
        f"p99={_pct(values, 99):6.1f}  max={max(values):7.1f} ms"
    )


def votes_check(*, seeded: Seeded, acked: set[tuple[int, str]]) -> dict[str, int]:
    from django.db.models import Count

    from evaluations.models import Pair
    from raters.models import Vote

    stored = set(
        Vote.objects.filter(study_id=seeded.study_id).values_list("rater_id", "pair__public_id")
    )
    over = (
        Pair.objects.filter(study_id=seeded.study_id)
        .annotate(n=Count("votes"))
        .filter(n__gt=seeded.votes_per_pair)
        .count()
    )
    return {
        "stored": len(stored),
        "acknowledged": len(acked),
        "lost": len(acked - stored),
        "unacknowledged": len(stored - acked),
        "pairs_over_target": over,
    }


async def run_level(
    *, base: str, seeded: Seeded, duration: float, think: float, reload_page: bool
) -> tuple[Stats, float]:
    stats = Stats()
    # Everyone starts at once: the hardest case for the assignment's row locks.
    deadline = time.monotonic() + duration
    started = time.monotonic()
    await asyncio.gather(
        *(
            rater_loop(
                base=base,
                study_id=seeded.study_id,
                rater_id=rater_id,
                cookies=cookies,
                deadline=deadline,
                think=think,
                stats=stats,
                choice=("A", "B", "tie")[k % 3],
                reload_page=reload_page,
            )
            for k, (rater_id, cookies) in enumerate(
                zip(seeded.rater_ids, seeded.cookies, strict=True)
            )
        )
    )
    return stats, time.monotonic() - started


def _merged(runs: list[tuple[Stats, float, CpuMeter]]) -> tuple[Stats, float, CpuMeter]:
    """The rounds of one tree as one run (the 10 s windows of all rounds overlaid)."""
    total = Stats()
    meter = runs[0][2]
    for name in ("server", "postgres", "client", "machine_busy", "machine_total"):
        setattr(meter, name, sum(getattr(m, name) for _, _, m in runs))
    for stats, _, _ in runs:
        total.vote_ms += stats.vote_ms
        total.next_ms += stats.next_ms
        total.timeline += stats.timeline
        total.errors.update(stats.errors)
        total.acked |= stats.acked
        total.repeats += stats.repeats
        total.exhausted += stats.exhausted
    return total, sum(elapsed for _, elapsed, _ in runs), meter


def report(
    level: int, stats: Stats, elapsed: float, check: dict[str, int], meter: CpuMeter
) -> bool:
    errors = sum(stats.errors.values())
    ok = (
        errors == 0
        and check["lost"] == 0
        and check["unacknowledged"] == 0
        and check["pairs_over_target"] == 0
        and stats.exhausted == 0
    )
    print(f"\n== {level} raters, {elapsed:.1f} s")
    print(
        f"  throughput {len(stats.acked) / elapsed:7.1f} votes/s, "
        f"{(len(stats.vote_ms) + len(stats.next_ms)) / elapsed:7.1f} requests/s"
    )
    print(_line("next pair", stats.next_ms))
    print(_line("vote", stats.vote_ms))
    windows: dict[int, list[float]] = {}
    for at, ms in stats.timeline:
        windows.setdefault(int(at // 10), []).append(ms)
    print(
        "  p99 by 10 s window (all requests): "
        + ", ".join(f"{10 * w}s {_pct(v, 99):.0f} ms" for w, v in sorted(windows.items()))
    )
    print(f"  errors     {errors} {dict(stats.errors) if errors else ''}")
    print(
        f"  votes      acknowledged={check['acknowledged']} stored={check['stored']} "
        f"lost={check['lost']} stored-but-unacknowledged={check['unacknowledged']} "
        f"pairs-over-target={check['pairs_over_target']} repeats={stats.repeats} "
        f"raters-out-of-pairs={stats.exhausted}"
    )
    votes = max(1, len(stats.acked))
    print(
        f"  CPU/vote   gunicorn {1000 * meter.server / votes:5.2f} ms + PostgreSQL "
        f"{1000 * meter.postgres / votes:5.2f} ms = "
        f"{1000 * (meter.server + meter.postgres) / votes:5.2f} ms "
        f"(load client {1000 * meter.client / votes:.2f} ms)"
    )
    print(
        f"  machine    {meter.machine_busy / elapsed:.2f} of {meter.machine_total / elapsed:.2f} "
        f"CPUs busy; this server and its backends {(meter.server + meter.postgres) / elapsed:.2f}, "
        f"the load client {meter.client / elapsed:.2f}, everything else "
        f"{(meter.machine_busy - meter.server - meter.postgres - meter.client) / elapsed:.2f}"
    )
    p99 = max(_pct(stats.vote_ms, 99), _pct(stats.next_ms, 99))
    print(f"  verdict    {'OK' if ok else 'FAILED'}; p99 {p99:.0f} ms (target < 250 ms)")
    return ok


def tree_export(rev: str) -> Path:
    """The tree of a commit, unpacked in a temporary directory."""
    target = Path(tempfile.mkdtemp(prefix="tastetest-reference-"))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=ROOT, check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


STATIC_ROOTS: list[str] = []


def server_start(*, root: Path, env: dict[str, str], app_name: str) -> tuple[str, subprocess.Popen]:
    static_root = tempfile.mkdtemp(prefix="tastetest-static-")
    STATIC_ROOTS.append(static_root)
    env = {
        **env,
        "STATIC_ROOT": static_root,
        "GUNICORN_BIND": f"127.0.0.1:{_free_port()}",
        # libpq names this server's connections: its backends' CPU is counted apart.
        "PGAPPNAME": app_name,
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity", "0"],
        cwd=root,
        env=env,
        check=True,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"],
        cwd=root,
        env=env,
        start_new_session=True,
    )
    base = f"http://{env['GUNICORN_BIND']}"
    for _ in range(300):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/login/", timeout=1).status_code == 200:
                return base, server
        time.sleep(0.1)
    os.killpg(server.pid, signal.SIGTERM)
    raise SystemExit(f"gunicorn ({root}) did not come up within 30 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raters", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per level")
    parser.add_argument("--sweep", help="comma-separated rater counts instead of --raters")
    # 20 s to read a prompt and two answers is a fast human; 0 measures the server's ceiling.
    parser.add_argument(
        "--think", type=float, default=20.0, help="mean seconds a rater reads before voting"
    )
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--votes-per-pair", type=int, default=5)
    parser.add_argument("--workers", type=int, help="gunicorn processes (WEB_CONCURRENCY)")
    parser.add_argument("--threads", type=int, help="threads per process (GUNICORN_THREADS)")
    parser.add_argument("--database", default="tastetest_load")
    parser.add_argument(
        "--reference", help="a commit whose code is measured alongside, level by level"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run each level this many times per tree, the trees taking turns",
    )
    parser.add_argument(
        "--reload-page",
        action="store_true",
        help="load the whole page before every vote (the loop of earlier runs) instead of "
        "voting on the next pair each vote's answer carries, as the page's script does",
    )
    args = parser.parse_args()

    pg_url = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    cache_url = os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/7")
    database_url = f"{pg_url}/{args.database}"
    levels = [int(x) for x in args.sweep.split(",")] if args.sweep else [args.raters]

    _recreate_database(pg_url, args.database)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CACHE_URL": cache_url,
        "SECRET_KEY": SECRET_KEY,
        "DEBUG": "0",
        # Plain HTTP on localhost: no TLS redirect, cookies not marked Secure.
        "SECURE": "0",
        "GUNICORN_ACCESS_LOG": "",
        "LOG_LEVEL": "WARNING",
    }
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    if args.threads:
        env["GUNICORN_THREADS"] = str(args.threads)
    _manage("migrate", "--no-input", env=env)
    _setup_django(database_url, cache_url)

    trees = [("this tree", ROOT)]
    if args.reference:
        trees.insert(0, (f"reference {args.reference}", tree_export(args.reference)))
    servers: list[tuple[str, str, subprocess.Popen, str]] = []
    all_ok = True
    try:
        for k, (name, root) in enumerate(trees):
            app_name = f"tastetest-load-{os.getpid()}-{k}"
            base, server = server_start(root=root, env=env, app_name=app_name)
            servers.append((name, base, server, app_name))
        print(
            f"gunicorn workers={env.get('WEB_CONCURRENCY', 2 * (os.cpu_count() or 1))} "
            f"threads={env.get('GUNICORN_THREADS', 8)}, {os.cpu_count()} CPUs, "
            f"PostgreSQL {database_url.rsplit('@', 1)[-1]}, think time {args.think} s, "
            + (
                "the page loaded before every vote"
                if args.reload_page
                else "voting as the page's script does"
            )
        )
        for level in levels:
            throughput, cpu = {}, {}
            studies = {
                name: study_seed(
                    raters=level,
                    prompts=args.prompts,
                    candidates=args.candidates,
                    votes_per_pair=args.votes_per_pair,
                )
                for name, _, _, _ in servers
            }
            runs: dict[str, list[tuple[Stats, float, CpuMeter]]] = {n: [] for n in studies}
            load_before = os.getloadavg()[0]
            # Round by round, each tree in turn: on a machine shared with other jobs, both
            # then meet the same mix of quiet and busy minutes.
            for _ in range(args.rounds):
                for name, base, server, app_name in servers:
                    with CpuMeter(server_pid=server.pid, app_name=app_name, pg_url=pg_url) as meter:
                        stats, elapsed = asyncio.run(
                            run_level(
                                base=base,
                                seeded=studies[name],
                                duration=args.duration,
                                think=args.think,
                                reload_page=args.reload_page,
                            )
                        )
                    runs[name].append((stats, elapsed, meter))
            for name, seeded in studies.items():
                stats, elapsed, meter = _merged(runs[name])
                print(
                    f"\n[{name}] study {seeded.study_id}: "
                    f"{seeded.pairs} pairs x {seeded.votes_per_pair} votes, "
                    f"{args.rounds} round(s) of {args.duration:.0f} s"
                )
                check = votes_check(seeded=seeded, acked=stats.acked)
                all_ok &= report(level, stats, elapsed, check, meter)
                cpu[name] = (meter.server + meter.postgres) / max(1, len(stats.acked))
                throughput[name] = len(stats.acked) / elapsed
            print(f"\n  load avg   {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
            if len(throughput) == 2:
                (ref_name, ref), (_, this) = throughput.items()
                print(
                    f"\n== {level} raters: this tree {this:.1f} votes/s beside {ref_name} "
                    f"{ref:.1f} votes/s: {this / ref if ref else float('nan'):.2f}x"
                )
                (_, ref_cpu), (_, this_cpu) = cpu.items()
                print(
                    f"== {level} raters: server CPU per vote (gunicorn + PostgreSQL) this tree "
                    f"{1000 * this_cpu:.2f} ms beside {ref_name} {1000 * ref_cpu:.2f} ms: "
                    f"{ref_cpu / this_cpu if this_cpu else float('nan'):.2f}x less"
                )
    finally:
        for _, _, server, _ in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
        for _, root in trees:
            if root != ROOT:
                shutil.rmtree(root, ignore_errors=True)
        for static_root in STATIC_ROOTS:
            shutil.rmtree(static_root, ignore_errors=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
