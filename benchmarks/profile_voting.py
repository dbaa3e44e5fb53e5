"""Where a vote and the next pair spend their CPU: raters taking turns voting, in process.

The requests go through Django's whole handler (every middleware, the Redis-backed session,
authentication, CSRF with the token the page carries, the view, template rendering) to
PostgreSQL, without gunicorn and without concurrency, so the figures are steady on a busy
machine. It prints this process's CPU and the PostgreSQL backend's CPU (read from /proc for
its pid) per vote, the queries of one vote with their wall time, and the functions taking
the most CPU under cProfile (which inflates Python time about twofold; the per-vote figures
are measured in a run without it).

    PG_URL=postgres://user:pw@127.0.0.1:5432 CACHE_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python benchmarks/profile_voting.py [--votes 400] [--top 30]

Uses its own database (tastetest_profile by default, dropped and recreated) and the study the
load benchmark seeds (benchmarks/load_voting.py).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load_voting import (  # noqa: E402
    CSRF_RE,
    PAIR_RE,
    SECRET_KEY,
    _manage,
    _proc_cpu,
    _recreate_database,
    _setup_django,
    study_seed,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--votes", type=int, default=400)
    parser.add_argument("--raters", type=int, default=40, help="taking turns, one vote each")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--database", default="tastetest_profile")
    args = parser.parse_args()

    pg_url = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    cache_url = os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/7")
    database_url = f"{pg_url}/{args.database}"
    _recreate_database(pg_url, args.database)
    static_root = tempfile.mkdtemp(prefix="tastetest-static-")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CACHE_URL": cache_url,
        "SECRET_KEY": SECRET_KEY,
        "DEBUG": "0",
        "SECURE": "0",
        "STATIC_ROOT": static_root,
        "LOG_LEVEL": "WARNING",
    }
    _manage("migrate", "--no-input", env=env)
    _manage("collectstatic", "--no-input", env=env)
    os.environ.update(STATIC_ROOT=static_root, LOG_LEVEL="WARNING")
    _setup_django(database_url, cache_url)

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    seeded = study_seed(raters=args.raters, prompts=1000, candidates=4, votes_per_pair=5)
    page = f"/studies/{seeded.study_id}/"
    vote = f"/studies/{seeded.study_id}/vote/"
    clients, panels = [], []
    for cookies in seeded.cookies:
        client = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1")
        client.cookies[settings.SESSION_COOKIE_NAME] = cookies[settings.SESSION_COOKIE_NAME]
        clients.append(client)
        panels.append(client.get(page).content.decode())
    choices = ("A", "B", "tie")

    def one_vote(k: int) -> None:
        client, panel = clients[k % len(clients)], panels[k % len(clients)]
        pair, token = PAIR_RE.search(panel), CSRF_RE.search(panel)
        assert pair and token, "no pair on the panel"
        response = client.post(
            vote,
            {
                "csrfmiddlewaretoken": token.group(1),
                "pair": pair.group(1),
                "choice": choices[k % 3],
                "time_spent_ms": "4000",
                "rationale": "",
            },
            headers={"X-Requested-With": "fetch", "Referer": f"http://127.0.0.1{page}"},
        )
        panel = panels[k % len(clients)] = response.content.decode()
        assert response.status_code == 200 and "Vote recorded." in panel, panel[:500]

    for k in range(2 * args.raters):  # warm: templates, the session cache, the connection
        one_vote(k)
    backend = connection.cursor().connection.info.backend_pid

    cpu0, pg0, wall0 = time.process_time(), _proc_cpu(backend), time.perf_counter()
    for k in range(args.votes):
        one_vote(k)
    cpu, pg = time.process_time() - cpu0, _proc_cpu(backend) - pg0
    wall = time.perf_counter() - wall0
    print(
        f"{args.votes} votes of {args.raters} raters, each with the next pair, one after the "
        f"other: per vote "
        f"{1000 * cpu / args.votes:.2f} ms CPU in Django, {1000 * pg / args.votes:.2f} ms in the "
        f"PostgreSQL backend, {1000 * wall / args.votes:.2f} ms wall"
    )

    timings: list[tuple[float, str]] = []

    def timed(execute, sql, params, many, context):  # noqa: ANN001
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append(((time.perf_counter() - started) * 1000, sql))

    with CaptureQueriesContext(connection), connection.execute_wrapper(timed):
        one_vote(0)
    print(f"\nqueries of one vote and the next pair: {len(timings)}")
    for ms, sql in timings:
        print(f"  {ms:6.2f} ms  {' '.join(sql.split())[:110]}")

    profile = cProfile.Profile(time.process_time)  # CPU, not time spent waiting on a socket
    profile.enable()
    for k in range(args.votes):
        one_vote(k)
    profile.disable()
    if os.environ.get("PROFILE_DUMP"):
        profile.dump_stats(os.environ["PROFILE_DUMP"])
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
