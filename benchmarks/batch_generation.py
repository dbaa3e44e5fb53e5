"""Benchmark: a study's outputs generated in batch mode against the test server.

Prints figures; not a timed test. Run: DATABASE_URL=postgres://... .venv/bin/python
benchmarks/batch_generation.py [--outputs N] [--small M] (100,000 and 10,000 by default). It
creates a throwaway database (<name>_bench_batch), seeds a study of N prompts and one of M, each
with one batch-mode candidate served by the OpenAI-compatible test server
(``tests/openai_stub.py``, its own process, so that its memory and CPU are not ours).

Each study's generation runs in a fresh process of its own (this script with ``--child``), so
that its peak resident set (ru_maxrss) is its own: measured after start-up (Django, LiteLLM and
its clients loaded) and after each step. The steps, timed on our side per 1,000 outputs:
assigning outputs to batches, writing + uploading + creating (split at 50,000 lines per batch),
and ingesting the result files (downloading them streamed, scrubbing, pricing, writing each
output). The provider's turnaround is excluded: the server runs the batches at the first poll,
before ingestion is timed. References measured in the same run: reading the same rows back with
one query per 1,000 (time), and the size of the result files (what holding them whole would
take, at least). Memory is bounded when the peak over start-up is about the same for M and N.
"""

from __future__ import annotations

import argparse
import json
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
from evaluations.generation.batches import (  # noqa: E402
    _candidate_context,
    _on_loop,
    batch_submit,
    outputs_batch_assign,
)
from evaluations.generation.starting import outputs_create  # noqa: E402
from evaluations.models import Candidate, Output, Prompt, ProviderBatch, Study  # noqa: E402
from evaluations.providers import batch_api  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def allow_stub() -> None:
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    if "STUB_API_KEY" not in settings.PROVIDER_KEY_ENV_ALLOWLIST:
        settings.PROVIDER_KEY_ENV_ALLOWLIST = [*settings.PROVIDER_KEY_ENV_ALLOWLIST, "STUB_API_KEY"]
    settings.BATCH_POLL_MIN_SECONDS = settings.BATCH_POLL_MAX_SECONDS = 0


def seed(n: int, port: int, owner) -> int:
    study = Study.objects.create(
        name=f"Batch {n}", slug=f"batch-{n}", owner=owner, status="generating"
    )
    Candidate.objects.create(
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
            Prompt(study=study, external_id=f"q{i}", text=f"How do I reset my password, case {i}?")
            for i in range(n)
        ),
        batch_size=5000,
    )
    outputs_create(study=study)
    return study.pk


def child(study_id: int, phase: str) -> None:
    """One phase of one study's generation in this fresh process ("send": assign, write, upload,
    create, and the server's run; "ingest"); prints its figures as JSON."""
    allow_stub()
    candidate = Candidate.objects.get(study_id=study_id)
    deployment, _ = _candidate_context(candidate)
    _on_loop(batch_api.batch_find(deployment, candidate.model, key="warm-up"))
    figures: dict = {f"{phase}_startup_mb": rss_mb()}

    def step(name: str, work) -> object:
        start = time.perf_counter()
        if os.environ.get("BENCH_PROFILE") == name:  # e.g. BENCH_PROFILE=ingest
            import cProfile
            import pstats

            profile = cProfile.Profile()
            result = profile.runcall(work)
            with open(f"/tmp/bench-profile-{name}.txt", "w") as out:
                pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
        else:
            result = work()
        figures[f"{name}_s"] = time.perf_counter() - start
        figures[f"{name}_mb"] = rss_mb()
        return result

    batches = ProviderBatch.objects.filter(study_id=study_id)
    if phase == "send":
        ids = list(Output.objects.filter(candidate=candidate).values_list("pk", flat=True))
        figures["n"] = len(ids)
        start = time.perf_counter()
        for first in range(0, len(ids), 1000):
            list(
                Output.objects.filter(pk__in=ids[first : first + 1000]).values_list(
                    "pk", "prompt__text"
                )
            )
        figures["reference_s"] = time.perf_counter() - start
        batch_ids = step("assign", lambda: outputs_batch_assign(output_ids=ids))
        step("submit", lambda: [batch_submit(batch_id=pk) for pk in batch_ids])
        step("server", lambda: [batch_poll(batch_id=pk) for pk in batch_ids])  # its time
        figures["lines"] = [b.request_count for b in batches]
    else:
        step(
            "ingest",
            lambda: [batch_ingest(batch_id=pk) for pk in batches.values_list("pk", flat=True)],
        )
        figures["done"] = Output.objects.filter(candidate=candidate, status="done").count()
        figures["result_mb"] = _result_mb(deployment, candidate.model, batches)
    print("FIGURES " + json.dumps(figures), flush=True)


def _result_mb(deployment, model: str, batches) -> float:
    """The result files' size: downloaded again (streamed) after the measured steps."""
    total = 0
    path = Path(f"/tmp/tastetest-bench-{os.getpid()}.jsonl")
    try:
        for batch in batches:
            total += _on_loop(
                batch_api.batch_file_download(deployment, model, batch.output_file_id, path)
            )
    finally:
        path.unlink(missing_ok=True)
    return total / 1e6


def per_thousand(seconds: float, n: int) -> str:
    return f"{seconds:7.2f} s total, {1000 * seconds / n:6.3f} s per 1,000"


def report(f: dict) -> None:
    n = f["n"]
    print(f"-- {n:,} outputs: {len(f['lines'])} batches ({', '.join(map(str, f['lines']))} lines)")
    for name, phase, label in [
        ("assign", "send", "assign to batches         "),
        ("submit", "send", "write + upload + create   "),
        ("ingest", "ingest", "ingest (download, write)  "),
    ]:
        over = f[name + "_mb"] - f[phase + "_startup_mb"]
        print(f"{label} {per_thousand(f[name + '_s'], n)}   peak RSS over start-up {over:+4.0f} MB")
    print(f"reference: read the rows   {per_thousand(f['reference_s'], n)}")
    print(
        f"reference: result files {f['result_mb']:.0f} MB (what holding them whole takes, at "
        f"least); start-up {f['send_startup_mb']:.0f} MB and {f['ingest_startup_mb']:.0f} MB"
    )
    print(f"(test server running the batches, not ours: {f['server_s']:.1f} s)")
    print(f"outputs done: {f['done']:,} of {n:,}")


def run_child(study_id: int, phase: str, url: str, n: int) -> dict:
    run = subprocess.run(
        [sys.executable, __file__, "--child", str(study_id), "--phase", phase],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [x for x in run.stdout.splitlines() if x.startswith("FIGURES ")]
    if run.returncode or not lines:
        print(run.stdout[-3000:], run.stderr[-3000:])
        raise SystemExit(f"the {phase} run of {n:,} outputs failed")
    return json.loads(lines[0].removeprefix("FIGURES "))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outputs", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # a study id
    parser.add_argument("--phase", choices=["send", "ingest"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.phase)
        return
    if connection.vendor != "postgresql":
        print("benchmarks/batch_generation.py needs PostgreSQL: set DATABASE_URL; skipped")
        return
    stub = subprocess.Popen(
        [sys.executable, "-m", "tests.openai_stub"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    port = int(stub.stdout.readline().split()[1])
    allow_stub()
    test_settings = settings.DATABASES["default"].setdefault("TEST", {})
    test_settings["NAME"] = f"{settings.DATABASES['default']['NAME']}_bench_batch"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    database = connection.settings_dict
    url = (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST'] or '127.0.0.1'}"
        f":{database['PORT'] or 5432}/{database['NAME']}"
    )
    try:
        owner = get_user_model().objects.create(username="bench", is_staff=True, is_superuser=True)
        figures = []
        for n in sorted({args.small, args.outputs}):
            study_id = seed(n, port, owner)
            connection.close()
            found: dict = {}
            for phase in ("send", "ingest"):
                found.update(run_child(study_id, phase, url, n))
            figures.append(found)
            report(found)
        if len(figures) == 2:
            small, large = figures
            grow = [f["ingest_mb"] - f["ingest_startup_mb"] for f in figures]
            print(
                f"bounded memory: ingesting peaks {grow[0]:.0f} MB over start-up at "
                f"{small['n']:,} outputs, {grow[1]:.0f} MB at {large['n']:,} "
                f"({large['n'] // small['n']}x the outputs, "
                f"{large['result_mb'] / small['result_mb']:.0f}x the result files)"
            )
        load1, load5, _ = os.getloadavg()
        print(f"machine load average: {load1:.2f} (1 min), {load5:.2f} (5 min)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        stub.terminate()
        stub.wait(timeout=10)


if __name__ == "__main__":
    main()
