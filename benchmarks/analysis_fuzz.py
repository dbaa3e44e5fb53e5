"""Random small studies through every option combination of the analysis: no crash, nothing
non-finite.

Issue 15's check: "zero crashes and zero non-finite numbers over 10,000 random small studies
through every option combination". Each study is drawn at random (2-6 models, 1-40 votes, 1-4
raters, 1-8 prompts, categories, ties, both-bad, and on purpose the shapes that broke fits:
separable, all ties, one vote, one rater, disconnected, huge lengths, odd labels) and analysed
under one combination of ties x both_bad x bootstrap x cluster x anchor; combinations are
cycled so that each of the 80 gets about studies/80 studies. A refusal with a message (asking to
cluster by raters when the votes have one rater) is counted apart from crashes: it is the
documented answer, not a failure. Prints counts and exits 1 on any crash or non-finite number.

    .venv/bin/python benchmarks/analysis_fuzz.py [--studies 10000] [--seed 1]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluations.analysis import VoteArrays, analyze  # noqa: E402

OPTIONS = list(
    itertools.product(
        ("half", "davidson"),
        ("tie", "exclude"),
        (0, 20),
        ("auto", "none", "rater", "prompt", "both"),
        (None, "anchor"),
    )
)
LABELS = ["gpt-4o", "$\\cmd$", "claude 3", "o3", "Ωmega", "a,b", "x" * 80, "<b>bold</b>"]
WINNERS = ["model_a", "model_b", "tie", "tie (bothbad)"]


def random_study(rng: np.random.Generator) -> list[dict]:
    n_models = int(rng.integers(2, 7))
    models = list(rng.choice(LABELS, size=n_models, replace=False))
    n_votes = int(rng.integers(1, 41))
    shape = rng.choice(["plain", "separable", "all_ties", "disconnected", "one_rater"])
    raters = 1 if shape == "one_rater" else int(rng.integers(1, 5))
    prompts = int(rng.integers(1, 9))
    huge = rng.random() < 0.1
    rows = []
    for _ in range(n_votes):
        if shape == "disconnected" and n_models >= 4:
            half = n_models // 2
            group = models[:half] if rng.random() < 0.5 else models[half:]
            a, b = rng.choice(group, size=2, replace=False)
        else:
            a, b = rng.choice(models, size=2, replace=False)
        if shape == "separable":
            winner = "model_a" if models.index(a) < models.index(b) else "model_b"
        elif shape == "all_ties":
            winner = "tie"
        else:
            winner = str(rng.choice(WINNERS, p=[0.4, 0.4, 0.15, 0.05]))
        prompt = int(rng.integers(prompts))
        length = (
            (lambda: float(rng.integers(1, 10**9)))
            if huge
            else (lambda: float(rng.integers(1, 3000)))
        )
        rows.append(
            {
                "model_a": str(a),
                "model_b": str(b),
                "winner": winner,
                "judge": f"r{int(rng.integers(raters))}",
                "question_id": f"q{prompt}",
                "category": ["", "code", "math"][int(rng.integers(3))],
                "left": ["model_a", "model_b"][int(rng.integers(2))],
                "length_a": length(),
                "length_b": length(),
            }
        )
    return rows


def non_finite(value) -> bool:
    if isinstance(value, dict):
        return any(non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(non_finite(v) for v in value)
    return isinstance(value, float) and not math.isfinite(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    outcomes: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    crashes: list[str] = []
    started = time.perf_counter()
    for k in range(args.studies):
        rows = random_study(rng)
        ties, both_bad, bootstrap, cluster, anchor = OPTIONS[k % len(OPTIONS)]
        votes = VoteArrays.from_rows(rows)
        options = {
            "ties": ties,
            "both_bad": both_bad,
            "bootstrap": bootstrap,
            "seed": k,
            "cluster": cluster,
            "anchor": f"{votes.models[0]}=1200" if anchor else None,
        }
        try:
            document = analyze(votes, **options)
            json.dumps(document, allow_nan=False)
        except ValueError as exc:
            if "Out of range float" in str(exc):
                crashes.append(f"study {k} {options}: non-finite number in JSON")
                continue
            refusals[str(exc).split(":")[0][:70]] += 1
            outcomes["refused with a message"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - counting every crash is the point
            crashes.append(f"study {k} {options}: {type(exc).__name__}: {exc}")
            continue
        if non_finite(document):
            crashes.append(f"study {k} {options}: non-finite number")
            continue
        outcomes["analysed"] += 1
    elapsed = time.perf_counter() - started
    print(
        f"{args.studies} random small studies, {len(OPTIONS)} option combinations cycled "
        f"(about {args.studies // len(OPTIONS)} studies each), seed {args.seed}, {elapsed:.0f} s"
    )
    for outcome, count in outcomes.most_common():
        print(f"  {outcome:28s} {count:6d}")
    for reason, count in refusals.most_common():
        print(f"    refused: {reason:60s} {count:6d}")
    print(f"  {'crashes or non-finite':28s} {len(crashes):6d}")
    for line in crashes[:20]:
        print("   ", line)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
