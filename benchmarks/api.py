"""Benchmark: the ranking endpoint over 1,000,000 votes on 30 models in PostgreSQL.

Prints figures; not a timed test. Run: DATABASE_URL=postgres://... .venv/bin/python
benchmarks/api.py [--votes N] [--models M]. It creates a throwaway database
(<name>_bench_api), loads it (ORM bulk inserts for prompts, outputs and pairs; COPY for the
votes), VACUUM ANALYZEs it as autovacuum would, then times GET /api/v1/studies/<id>/ranking/
cold (cache emptied) and warm, unfiltered and filtered (10 raters excluded, flagged raters
excluded). Targets on the reference 2-core machine: cold under 1 s, warm under 20 ms.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from evaluations.models import Candidate, Output, Pair, Prompt, Study  # noqa: E402
from raters.models import Membership, Rater, Vote  # noqa: E402


def load(n_votes: int, n_models: int, seed: int) -> tuple[Study, list[int]]:
    rng = np.random.default_rng(seed)
    user_model = get_user_model()
    owner = user_model.objects.create(username="bench-owner", is_staff=True, is_superuser=True)
    study = Study.objects.create(name="Bench", slug="bench", owner=owner)
    candidates = Candidate.objects.bulk_create(
        Candidate(study=study, label=f"model-{k:02d}", model=f"openai/model-{k:02d}")
        for k in range(n_models)
    )
    n_raters = 500
    votes_per_pair = 9
    pairs_per_prompt = 50
    n_prompts = max(1, n_votes // (votes_per_pair * pairs_per_prompt))
    prompts = Prompt.objects.bulk_create(
        (
            Prompt(
                study=study,
                external_id=f"q{p}",
                text=f"Question {p}?",
                category=("code", "math", "writing")[p % 3],
            )
            for p in range(n_prompts)
        ),
        batch_size=5000,
    )
    outputs = Output.objects.bulk_create(
        (
            Output(prompt=prompt, candidate=c, status=Output.Status.DONE, text="answer")
            for prompt in prompts
            for c in candidates
        ),
        batch_size=5000,
    )
    output_ids = np.array([o.pk for o in outputs]).reshape(n_prompts, n_models)
    strength = rng.normal(0, 1, n_models)
    pair_rows = []
    for p in range(n_prompts):
        chosen = set()
        while len(chosen) < min(pairs_per_prompt, n_models * (n_models - 1) // 2):
            a, b = sorted(rng.choice(n_models, 2, replace=False))
            chosen.add((int(a), int(b)))
        pair_rows.extend((p, a, b) for a, b in sorted(chosen))
    pairs = Pair.objects.bulk_create(
        (
            Pair(
                study=study,
                prompt=prompts[p],
                output_a_id=int(output_ids[p, a]),
                output_b_id=int(output_ids[p, b]),
            )
            for p, a, b in pair_rows
        ),
        batch_size=5000,
    )
    users = user_model.objects.bulk_create(
        user_model(username=f"bench-rater-{r}") for r in range(n_raters)
    )
    raters = Rater.objects.bulk_create(Rater(user=u, display_name=u.username) for u in users)
    Membership.objects.bulk_create(
        Membership(rater=r, study=study, flagged=k < 5) for k, r in enumerate(raters)
    )
    rater_ids = np.array([r.pk for r in raters])
    pair_ids = np.array([p.pk for p in pairs])
    pa = np.array([a for _, a, _ in pair_rows])
    pb = np.array([b for _, _, b in pair_rows])
    prompt_of = np.array([p for p, _, _ in pair_rows])
    # Each pair gets votes_per_pair distinct raters.
    n = len(pairs) * votes_per_pair
    offsets = rng.integers(0, n_raters, len(pairs))
    who = (offsets[:, None] + np.arange(votes_per_pair)[None, :] * 7) % n_raters
    vote_pair = np.repeat(np.arange(len(pairs)), votes_per_pair)
    p_a = 1 / (1 + np.exp(strength[pb[vote_pair]] - strength[pa[vote_pair]]))
    roll = rng.random(n)
    choice = np.where(
        roll < 0.1,
        "tie",
        np.where(roll < 0.13, "both_bad", np.where(rng.random(n) < p_a, "a", "b")),
    )
    left_a = rng.random(n) < 0.5
    left = np.where(
        left_a,
        output_ids[prompt_of[vote_pair], pa[vote_pair]],
        output_ids[prompt_of[vote_pair], pb[vote_pair]],
    )
    buffer = io.StringIO()
    np.savetxt(
        buffer,
        np.column_stack(
            [
                np.full(n, study.pk),
                pair_ids[vote_pair],
                rater_ids[who.ravel()],
                choice,
                left,
                rng.integers(1000, 60000, n),
                # The pair's candidates and prompt, as vote_record copies them.
                np.array([c.pk for c in candidates])[pa[vote_pair]],
                np.array([c.pk for c in candidates])[pb[vote_pair]],
                np.array([p.pk for p in prompts])[prompt_of[vote_pair]],
            ]
        ),
        fmt="%s",
        delimiter="\t",
    )
    columns = (
        "study_id, pair_id, rater_id, choice, left_output_id, time_spent_ms, candidate_a_id, "
        "candidate_b_id, prompt_id, rationale, created_at"
    )
    data = buffer.getvalue().replace("\n", "\t\t2026-01-01 00:00:00+00\n")
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {Vote._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        copy.write(data)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Vote._meta.db_table}")
        cursor.execute(f"VACUUM ANALYZE {Pair._meta.db_table}")
        cursor.execute(f"VACUUM ANALYZE {Output._meta.db_table}")
        cursor.execute(f"VACUUM ANALYZE {Prompt._meta.db_table}")
    return study, [int(r) for r in rater_ids[5:15]]


def timed(client: Client, url: str, *, cold: bool, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        if cold:
            cache.clear()
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.content[:500]
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("benchmarks/api.py needs PostgreSQL: set DATABASE_URL=postgres://...; skipped")
        return
    setup_test_environment()
    test_settings = settings.DATABASES["default"].setdefault("TEST", {})
    test_settings["NAME"] = f"{settings.DATABASES['default']['NAME']}_bench_api"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        start = time.perf_counter()
        study, some_raters = load(args.votes, args.models, args.seed)
        votes = Vote.objects.filter(study=study).count()
        cache_name = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
        print(
            f"loaded {votes:,} votes over {args.models} models, "
            f"{Pair.objects.filter(study=study).count():,} pairs "
            f"in {time.perf_counter() - start:.1f} s (cache: {cache_name})"
        )
        client = Client()
        client.force_login(study.owner)
        base = f"/api/v1/studies/{study.pk}/ranking/"
        filtered = (
            base + "?exclude_flagged=true&" + "&".join(f"exclude_raters={r}" for r in some_raters)
        )
        for label, url in (("unfiltered", base), ("filtered (15 raters out)", filtered)):
            cold = timed(client, url, cold=True, repeat=3)
            warm = timed(client, url, cold=False, repeat=30)
            print(
                f"ranking {label}: cold median {statistics.median(cold) * 1000:.0f} ms "
                f"(min {min(cold) * 1000:.0f}, max {max(cold) * 1000:.0f}); "
                f"warm median {statistics.median(warm) * 1000:.1f} ms "
                f"(max {max(warm) * 1000:.1f})"
            )
        load1, load5, _ = os.getloadavg()
        print(f"machine load average: {load1:.2f} (1 min), {load5:.2f} (5 min)")
        body = client.get(base).json()
        top = body["models"][0]
        print(
            f"top model {top['model']} rating {top['rating']:.1f} "
            f"[{top['ci_low']:.1f}, {top['ci_high']:.1f}] over {body['summary']['votes_ranked']:,} "
            "ranked votes"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
