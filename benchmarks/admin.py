"""Benchmark: every admin page at 100,000 prompts and 1,000,000 votes in PostgreSQL.

Prints figures; not a timed test. Run: DATABASE_URL=postgres://... .venv/bin/python
benchmarks/admin.py [--prompts N] [--votes-per-pair K] [--repeat R]. It creates a throwaway
database (<name>_bench_admin) and seeds one big study: N prompts, two candidates with an output
each per prompt, one pair per prompt, 1,000 raters with memberships, K votes per pair (10 by
default: 1,000,000 votes) and an assignment per vote, written with INSERT ... SELECT in the
database; plus a few small studies so that filters have choices. It VACUUM ANALYZEs as
autovacuum would, then times, in this process (server-side: the request through Django's test
client, no network), every registered model's changelist, its changelist filtered by the big
study, a search, one change page and the add page, and the study's own pages, each the median
of R runs, beside the admin index measured in the same run. Then the study's results page and
results API cold (nothing computed yet: the page says it is computing and queues a Celery task),
the computation as that task runs it, warm (the stored result) and stale (a vote added since).
--results-only skips the other pages. Target: every page under 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib import admin  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import NoReverseMatch, reverse  # noqa: E402

from evaluations.models import Candidate, Output, Pair, Prompt, Study  # noqa: E402
from raters.models import Assignment, Invite, Membership, Rater, Vote  # noqa: E402

LIMIT_S = 1.0


def _sql(statement: str, params: tuple = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def seed(n_prompts: int, votes_per_pair: int) -> Study:
    user_model = get_user_model()
    owner = user_model.objects.create(username="bench-owner", is_staff=True, is_superuser=True)
    for k in range(5):
        small = Study.objects.create(name=f"Small {k}", slug=f"small-{k}", owner=owner)
        Prompt.objects.create(study=small, external_id="q1", text="A small study's prompt")
    study = Study.objects.create(name="Big", slug="big", owner=owner, votes_per_pair=votes_per_pair)
    candidates = Candidate.objects.bulk_create(
        Candidate(study=study, label=f"model-{k}", model=f"openai/model-{k}") for k in range(2)
    )
    q = connection.ops.quote_name
    _sql(
        f"INSERT INTO {q(Prompt._meta.db_table)} (study_id, external_id, text, category, context,"
        " reference, created_at)"
        " SELECT %s, 'q' || i, 'Question ' || i || ': ' || repeat('lorem ipsum ', 20),"
        " (ARRAY['code', 'math', 'writing'])[1 + i %% 3], '', '', now()"
        " FROM generate_series(1, %s) i",
        (study.pk, n_prompts),
    )
    for c in candidates:
        _sql(
            f"INSERT INTO {q(Output._meta.db_table)} (prompt_id, candidate_id, status, text,"
            " raw_text, attempts, last_error, latency_ms, ttft_ms, input_tokens, output_tokens,"
            " cost_usd, served_model, deployment, request_hash, identity_leak, version_mismatch,"
            " imported, cache_hit, identity_review, identity_findings, created_at, finished_at)"
            " SELECT p.id, %s, 'done', repeat('An answer. ', 30), repeat('An answer. ', 30), 1,"
            " '', 300 + random() * 30000, 100 + random() * 900, 50, 300, 0.0003, '', '', '',"
            " false, false, false, false, false, '[]', now(), now()"
            f" FROM {q(Prompt._meta.db_table)} p WHERE p.study_id = %s",
            (c.pk, study.pk),
        )
    _sql(
        f"INSERT INTO {q(Pair._meta.db_table)} (study_id, prompt_id, output_a_id, output_b_id,"
        " public_id, gold_answer, load, created_at)"
        " SELECT %s, a.prompt_id, a.id, b.id, md5(a.id::text || 'pair'), '', %s, now()"
        f" FROM {q(Output._meta.db_table)} a JOIN {q(Output._meta.db_table)} b"
        " ON b.prompt_id = a.prompt_id AND b.candidate_id = %s WHERE a.candidate_id = %s",
        (study.pk, votes_per_pair, candidates[1].pk, candidates[0].pk),
    )
    users = user_model.objects.bulk_create(
        user_model(username=f"bench-rater-{r}") for r in range(1000)
    )
    raters = Rater.objects.bulk_create(Rater(user=u, display_name=u.username) for u in users)
    Membership.objects.bulk_create(Membership(rater=r, study=study) for r in raters)
    Invite.objects.create(study=study, expires_at="2030-01-01T00:00:00Z", created_by=owner)
    first_rater = raters[0].pk
    # Each pair's K raters are distinct: (pair * 7 + k * 97) mod 1000 differ for k < 10.
    _sql(
        f"INSERT INTO {q(Vote._meta.db_table)} (study_id, pair_id, rater_id, choice,"
        " left_output_id, time_spent_ms, rationale, created_at, candidate_a_id, candidate_b_id,"
        " prompt_id)"
        " SELECT p.study_id, p.id, %s + (p.id * 7 + k * 97) %% 1000,"
        " (ARRAY['a', 'b', 'tie', 'both_bad'])[1 + (p.id + k) %% 4],"
        " CASE WHEN k %% 2 = 0 THEN p.output_a_id ELSE p.output_b_id END,"
        " 2000 + (p.id * k) %% 50000, '', now() - (k || ' minutes')::interval, %s, %s,"
        " p.prompt_id"
        f" FROM {q(Pair._meta.db_table)} p, generate_series(0, %s) k WHERE p.study_id = %s",
        (first_rater, candidates[0].pk, candidates[1].pk, votes_per_pair - 1, study.pk),
    )
    _sql(
        f"INSERT INTO {q(Assignment._meta.db_table)} (study_id, pair_id, rater_id,"
        " left_output_id, state, is_gold, expires_at, shown_at, created_at)"
        " SELECT study_id, pair_id, rater_id, left_output_id, 'voted', false, created_at,"
        f" created_at, created_at FROM {q(Vote._meta.db_table)} WHERE study_id = %s",
        (study.pk,),
    )
    for model in (Prompt, Output, Pair, Vote, Assignment, Rater, Membership):
        _sql(f"VACUUM ANALYZE {q(model._meta.db_table)}")
    return study


def timed(client: Client, url: str, repeat: int) -> tuple[float, int, int]:
    """Median seconds, status and body size of GET url."""
    times, status, size = [], 0, 0
    for _ in range(repeat):
        cache.clear()
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        status, size = response.status_code, len(response.content)
    return statistics.median(times), status, size


def admin_urls(study: Study) -> list[tuple[str, str]]:
    urls: list[tuple[str, str]] = [("admin index (reference)", reverse("admin:index"))]
    for model, model_admin in admin.site._registry.items():
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        changelist = reverse(f"admin:{info}_changelist")
        urls.append((f"{info} changelist", changelist))
        filters = [f if isinstance(f, str) else f[0] for f in model_admin.list_filter]
        study_filter = next((f for f in filters if f in ("study", "candidate__study")), None)
        if study_filter:
            urls.append(
                (f"{info} of the big study", f"{changelist}?{study_filter}__id__exact={study.pk}")
            )
        if model_admin.search_fields:
            urls.append((f"{info} search", f"{changelist}?q=lorem+7"))
        obj = model._default_manager.order_by("-pk").first()
        if obj is not None:
            urls.append((f"{info} change", reverse(f"admin:{info}_change", args=[obj.pk])))
        with contextlib.suppress(NoReverseMatch):
            urls.append((f"{info} add", reverse(f"admin:{info}_add")))
    for name in ("import_prompts", "results", "progress"):
        urls.append((f"study {name}", reverse(f"admin:evaluations_study_{name}", args=[study.pk])))
    return urls


def _once(client: Client, url: str) -> tuple[float, Any]:
    start = time.perf_counter()
    response = client.get(url)
    return time.perf_counter() - start, response


def _line(label: str, seconds: float, reference: float, response: Any, state: str) -> bool:
    slow = seconds >= LIMIT_S or response.status_code >= 400
    print(
        f"{label:<42} {seconds * 1000:8.0f} ms  ({seconds / reference:5.1f}x index)"
        f"  {len(response.content) / 1000:8.0f} kB  HTTP {response.status_code}  {state}"
        + ("  <-- SLOW" if slow else "")
    )
    return slow


def results_timings(client: Client, study: Study, reference: float, repeat: int) -> list[str]:
    """The results page and API of the big study: cold (nothing computed: the page says it is
    computing and a Celery task is queued), the computation as that task runs it (timed here,
    in this process, no worker), warm (the stored result), and stale (a vote added since)."""
    # The admin imports the results view (and matplotlib, ~1.6 s) on its first use in a process:
    # import it now, as the admin index warm-up does for the other views, so that "cold" is
    # the results' state, not the process's.
    import research.results.views  # noqa: F401
    from config.celery import app
    from evaluations.models import ResultSnapshot
    from research.results.aggregation import ResultOptions
    from research.results.snapshots import options_data, results_compute

    page = reverse("admin:evaluations_study_results", args=[study.pk])
    api = f"/api/v1/studies/{study.pk}/"
    endpoints = [f"{api}{name}/" for name in ("ranking", "pairwise", "agreement", "biases")]
    print(f"-- results at {Vote.objects.filter(study=study).count():,} votes --")
    cache.clear()
    ResultSnapshot.objects.filter(study=study).delete()
    slow = []
    for label, url in [("results page, cold", page), *((f"{u}, cold", u) for u in endpoints)]:
        seconds, response = _once(client, url)
        state = response.headers.get("Results-Status") or (
            "computing" if b'id="results-computing"' in response.content else "?"
        )
        if _line(label, seconds, reference, response, state):
            slow.append(label)
    for kind in ("analysis", "ranking", "figures"):
        start = time.perf_counter()
        results_compute(study_id=study.pk, kind=kind, options_values=options_data(ResultOptions()))
        print(
            f"{'computation of ' + kind + ' (the Celery task)':<42} "
            f"{(time.perf_counter() - start) * 1000:8.0f} ms  (in the background: no request waits)"
        )
    for label, url in [("results page, warm", page), *((f"{u}, warm", u) for u in endpoints)]:
        runs = [_once(client, url) for _ in range(repeat)]
        seconds = statistics.median(t for t, _ in runs)
        response = runs[-1][1]
        state = response.headers.get("Results-Status") or (
            "current" if b'id="results-computed"' in response.content else "?"
        )
        if _line(label, seconds, reference, response, state):
            slow.append(label)
    pair = Pair.objects.filter(study=study).order_by("id").first()
    rater = Rater.objects.exclude(votes__pair=pair).first()
    Vote.objects.create(
        study=study, pair=pair, rater=rater, choice="a", left_output_id=pair.output_a_id
    )
    for label, url in [("results page, stale", page), (f"{endpoints[0]}, stale", endpoints[0])]:
        seconds, response = _once(client, url)
        state = response.headers.get("Results-Status") or (
            "stale" if b'id="results-stale"' in response.content else "?"
        )
        if _line(label, seconds, reference, response, state):
            slow.append(label)
    app.control.purge()  # the tasks the cold and stale requests queued: no worker here
    return slow


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--votes-per-pair", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the seeded database for the next run, and reuse one a --keep run left",
    )
    parser.add_argument("--results-only", action="store_true", help="only the results timings")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("benchmarks/admin.py needs PostgreSQL: set DATABASE_URL=postgres://...; skipped")
        return
    reverse("admin:index")  # imports every view now, not after the seeding
    logging.getLogger("django.request").setLevel(logging.ERROR)  # the expected 403s
    setup_test_environment()
    test_settings = settings.DATABASES["default"].setdefault("TEST", {})
    test_settings["NAME"] = f"{settings.DATABASES['default']['NAME']}_bench_admin"
    old_name = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, keepdb=args.keep, serialize=False
    )
    try:
        start = time.perf_counter()
        kept = Study.objects.filter(slug="big").first() if args.keep else None
        study = kept or seed(args.prompts, args.votes_per_pair)
        print(
            f"seeded {Prompt.objects.count():,} prompts, {Output.objects.count():,} outputs, "
            f"{Pair.objects.count():,} pairs, {Vote.objects.count():,} votes, "
            f"{Assignment.objects.count():,} assignments in {time.perf_counter() - start:.1f} s"
            + (" (kept from an earlier --keep run)" if kept else "")
        )
        client = Client()
        client.force_login(study.owner)
        client.get(reverse("admin:index"))  # warm-up: imports, templates
        slow = []
        reference = None
        for label, url in admin_urls(study)[: 1 if args.results_only else None]:
            seconds, status, size = timed(client, url, args.repeat)
            reference = reference if reference is not None else seconds
            mark = "  <-- SLOW" if seconds >= LIMIT_S else ""
            if status >= 400 and status != 403:  # 403: adding votes/outputs is refused by design
                mark += f"  <-- HTTP {status}"
            if mark:
                slow.append(label)
            print(
                f"{label:<42} {seconds * 1000:8.0f} ms  ({seconds / reference:5.1f}x index)"
                f"  {size / 1000:8.0f} kB  HTTP {status}{mark}"
            )
        slow += results_timings(client, study, reference, args.repeat)
        load1, load5, _ = os.getloadavg()
        print(f"machine load average: {load1:.2f} (1 min), {load5:.2f} (5 min)")
        print(
            f"pages over {LIMIT_S:.0f} s or failing: {', '.join(slow)}"
            if slow
            else f"every page under {LIMIT_S:.0f} s"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=args.keep)


if __name__ == "__main__":
    main()
