"""Recorded latency and time to first token against the provider's true latency.

A local OpenAI-compatible stub (its own process) answers every request after a known delay and
measures its own service time of each answer (from the request read to the last byte written);
one batch of outputs is generated in this process at the candidate's default concurrency, and
the medians of what was recorded are printed next to the stub's median service time. Fails
(exit 1) when the recorded median latency is more than 10% off that service time.

Assumptions: the stub answers with the whole stream at once, so its service time is both the
true time to first token and the true latency; loopback adds well under a millisecond.

    .venv/bin/python benchmarks/latency.py [--outputs 200] [--latency 0.3]

Uses the configured database (DATABASE_URL); the benchmark study is deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["TASTETEST_KEY_BENCH"] = "sk-bench"

from benchmarks.generation import Stub  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outputs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from evaluations.generation.runner import outputs_generate
    from evaluations.generation.starting import outputs_create
    from evaluations.models import Candidate, Output, Prompt, ProviderConnection, Study

    stub = Stub(args.latency)
    owner, _ = get_user_model().objects.get_or_create(username="benchmark")
    run = uuid.uuid4().hex[:8]
    study = Study.objects.create(name=f"Latency {run}", slug=f"latency-{run}", owner=owner)
    # The stub on loopback, reached as the operator's connections are.
    ProviderConnection.objects.update_or_create(
        name="latency-stub",
        defaults={
            "api_base": stub.base_url,
            "api_key_env": "TASTETEST_KEY_BENCH",
            "available_to_all": True,
        },
    )
    try:
        candidate = Candidate.objects.create(
            study=study,
            label="timed",
            model="openai/timed",
            connection="latency-stub",
        )
        Prompt.objects.bulk_create(
            Prompt(study=study, external_id=f"l{i}", text=f"Latency {run} question {i}?")
            for i in range(args.outputs + 1)
        )
        outputs_create(study=study)
        ids = list(Output.objects.filter(prompt__study=study).values_list("pk", flat=True))
        outputs_generate(output_ids=ids[:1])  # LiteLLM's first call in a process sets it up
        outputs_generate(output_ids=ids[1:])
        done = Output.objects.filter(pk__in=ids[1:], status=Output.Status.DONE)
        latency = statistics.median(done.values_list("latency_ms", flat=True))
        ttft = statistics.median(done.values_list("ttft_ms", flat=True))
        count = done.count()
    finally:
        stub.stop()
        study.delete()
    service_ms = stub.service_ms
    off = (latency - service_ms) / service_ms
    print(
        f"{count} outputs at the default concurrency ({candidate.max_concurrency} per candidate), "
        f"stub delay {args.latency * 1000:.0f} ms\n"
        f"  stub's own median service time (the reference): {service_ms:.1f} ms\n"
        f"  recorded median latency:                         {latency:.1f} ms ({off:+.1%})\n"
        f"  recorded median time to first token:             {ttft:.1f} ms "
        f"({(ttft - service_ms) / service_ms:+.1%})"
    )
    if abs(off) > 0.10:
        print("FAIL: the recorded median latency is more than 10% off the stub's service time")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
