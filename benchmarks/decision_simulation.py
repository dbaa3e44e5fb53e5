"""Simulation check of the decision's non-inferiority test (issue 18); not a timed test.

    .venv/bin/python benchmarks/decision_simulation.py [--reps 1000] [--seed 1]

Each replication simulates a study from a known truth, ranks it with
`evaluations.analysis.analyze` (independent votes, sandwich intervals) and applies
`noninferiority_against_best` with a margin of 50 Elo (7.1 percentage points of win
probability). Model "best" has true rating 0, "candidate" the true difference d below it, and
in the three-model cells a model 300 Elo below joins the Holm family. "accepted" is the share
of replications in which the candidate is recommended-eligible: the top-rated model or shown
non-inferior (alpha 0.05). Assumptions: Bradley-Terry votes, no ties, pairs drawn uniformly,
1,500 votes per study. Expected: at the margin (d = -50) acceptance is the test's size, 0.05
with one candidate tested and at most 0.05 with Holm over two (about 0.025 here, where the
other candidate is never accepted); beyond the margin below 0.05; inside it near the power the
normal approximation predicts (printed beside, from the mean standard error). mc is the Monte
Carlo standard error sqrt(p (1 - p) / reps).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluations.analysis import VoteArrays, analyze  # noqa: E402
from evaluations.analysis.bradley_terry import ELO_SCALE  # noqa: E402
from evaluations.analysis.noninferiority import noninferiority_against_best  # noqa: E402

MARGIN = 50.0
VOTES = 1500


def simulate(rng: np.random.Generator, truth: dict[str, float]) -> dict:
    names = list(truth)
    ratings = np.array([truth[n] for n in names])
    m = len(names)
    a = rng.integers(0, m, VOTES)
    b = (a + rng.integers(1, m, VOTES)) % m
    d = (ratings[a] - ratings[b]) / ELO_SCALE
    outcome = np.where(rng.random(VOTES) < expit(d), 0, 1).astype(np.int8)
    votes = VoteArrays(
        model_a=a.astype(np.int32), model_b=b.astype(np.int32), outcome=outcome, models=names
    )
    return analyze(votes, cluster="none")


def run_cell(rng: np.random.Generator, reps: int, difference: float, three: bool) -> str:
    truth = {"best": 0.0, "candidate": difference}
    if three:
        truth["far"] = -300.0
    accepted, ses = 0, []
    for _ in range(reps):
        result = noninferiority_against_best(simulate(rng, truth), MARGIN)
        entry = result["models"]["candidate"]
        accepted += entry["non_inferior"]
        if result["best"] != "candidate":
            ses.append(entry["se"])
    rate = accepted / reps
    mc = np.sqrt(rate * (1 - rate) / reps)
    level = 0.05 / (2 if three else 1)
    se = float(np.mean(ses))
    predicted = float(stats.norm.sf(stats.norm.isf(level) - (difference + MARGIN) / se))
    where = "inside" if difference > -MARGIN else ("at" if difference == -MARGIN else "outside")
    return (
        f"{'3 models, Holm' if three else '2 models':<15} d = {difference:>6.1f} ({where:<7} "
        f"margin)  accepted {rate:.3f} (mc {mc:.3f})  predicted {predicted:.3f}  mean se "
        f"{se:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"non-inferiority, margin {MARGIN:.0f} Elo, alpha 0.05, {VOTES} votes, {args.reps} reps")
    start = time.perf_counter()
    for three in (False, True):
        for difference in (0.0, -25.0, -50.0, -75.0):
            print(run_cell(rng, args.reps, difference, three), flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
