"""Benchmark: a study's outputs generated in batch mode against the test server.

Prints figures; not a timed test. Run: DATABASE_URL=postgres://... .venv/bin/python
benchmarks/batch_generation.py [--outputs N] (100,000 by default). It creates a throwaway
database (<name>_bench_batch), seeds N prompts and one batch-mode candidate served by the
OpenAI-compatible test server (``tests/openai_stub.py``, its own process, so that its memory
and CPU are not ours), and times our side of each step per 1,000 outputs: assigning outputs to
batches, writing + uploading + creating (split at 50,000 lines per batch), and ingesting the
result files (reading them, scrubbing, pricing and writing each output). The provider's own
turnaround is excluded: the server has finished the batches before ingestion is timed. Beside
them, the reference measured in the same run: reading the same rows back with one query per
1,000. Memory: this process's peak resident set (ru_maxrss) after seeding and at the end, and
how much each of submission and ingestion raised that peak.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
os.environ["STUB_API_KEY"] = "sk-stub"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402

from evaluations.generation.batch_ingest import batch_ingest  # noqa: E402
from evaluations.generation.batch_polling import batch_poll  # noqa: E402
from evaluations.generation.batches import batch_submit, outputs_batch_assign  # noqa: E402
from evaluations.generation.starting import outputs_create  # noqa: E402
from evaluations.models import Candidate, Output, Prompt, ProviderBatch, Study  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def per_thousand(seconds: float, n: int) -> str:
    return f"{seconds:7.2f} s total, {1000 * seconds / n:7.3f} s per 1,000 outputs"


def traced(function):
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        profile = cProfile.Profile()
        result = profile.runcall(function)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        return result, 0.0, 0.0
    # Peak resident set growth: tracemalloc would slow the step several times over.
    before = rss_mb()
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    return result, seconds, rss_mb() - before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outputs", type=int, default=100_000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("benchmarks/batch_generation.py needs PostgreSQL: set DATABASE_URL; skipped")
        return
    stub = subprocess.Popen(
        [sys.executable, "-m", "tests.openai_stub"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    port = int(stub.stdout.readline().split()[1])
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    if "STUB_API_KEY" not in settings.PROVIDER_KEY_ENV_ALLOWLIST:
        settings.PROVIDER_KEY_ENV_ALLOWLIST = [*settings.PROVIDER_KEY_ENV_ALLOWLIST, "STUB_API_KEY"]
    settings.BATCH_POLL_MIN_SECONDS = settings.BATCH_POLL_MAX_SECONDS = 0
    test_settings = settings.DATABASES["default"].setdefault("TEST", {})
    test_settings["NAME"] = f"{settings.DATABASES['default']['NAME']}_bench_batch"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        n = args.outputs
        owner = get_user_model().objects.create(username="bench", is_staff=True, is_superuser=True)
        study = Study.objects.create(name="Batch", slug="batch", owner=owner, status="generating")
        candidate = Candidate.objects.create(
            study=study,
            label="Cheap",
            model="openai/cheap",
            api_base=f"http://127.0.0.1:{port}/v1",
            api_key_env="STUB_API_KEY",
            generation_mode="batch",
            max_tokens=400,
            system_prompt="Answer the customer's question.",
            input_price_per_mtok=Decimal(2),
            output_price_per_mtok=Decimal(8),
        )
        Prompt.objects.bulk_create(
            (
                Prompt(
                    study=study, external_id=f"q{i}", text=f"How do I reset my password, case {i}?"
                )
                for i in range(n)
            ),
            batch_size=5000,
        )
        outputs_create(study=study)
        print(f"seeded {n:,} prompts and outputs; peak RSS so far {rss_mb():.0f} MB")
        ids = list(Output.objects.filter(candidate=candidate).values_list("pk", flat=True))

        start = time.perf_counter()
        rows = 0
        for first in range(0, n, 1000):
            rows += len(
                list(
                    Output.objects.filter(pk__in=ids[first : first + 1000]).values_list(
                        "pk", "prompt__text"
                    )
                )
            )
        reference = time.perf_counter() - start

        batch_ids, assign_s, _ = traced(lambda: outputs_batch_assign(output_ids=ids))
        _, submit_s, submit_peak = traced(lambda: [batch_submit(batch_id=pk) for pk in batch_ids])
        # The server runs the batches (its time, not ours) on the first look.
        start = time.perf_counter()
        for pk in batch_ids:
            batch_poll(batch_id=pk)
        server_s = time.perf_counter() - start
        _, ingest_s, ingest_peak = traced(lambda: [batch_ingest(batch_id=pk) for pk in batch_ids])
        done = Output.objects.filter(candidate=candidate, status="done").count()
        batches = ProviderBatch.objects.filter(study=study)
        print(
            f"{len(batch_ids)} batches ({', '.join(str(b.request_count) for b in batches)} lines)"
        )
        print(f"assign to batches            {per_thousand(assign_s, n)}")
        print(
            f"write + upload + create      {per_thousand(submit_s, n)}  peak {submit_peak:.0f} MB"
        )
        print(
            f"ingest (read, scrub, write)  {per_thousand(ingest_s, n)}  peak {ingest_peak:.0f} MB"
        )
        print(f"reference: read the rows     {per_thousand(reference, n)}")
        print(f"(test server running the batches, not ours: {server_s:.1f} s)")
        print(f"outputs done: {done:,} of {n:,}; peak RSS of this process: {rss_mb():.0f} MB")
        load1, load5, _ = os.getloadavg()
        print(f"machine load average: {load1:.2f} (1 min), {load5:.2f} (5 min)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        stub.terminate()
        stub.wait(timeout=10)


if __name__ == "__main__":
    main()
