"""Simulation check of the strength analysis (issue 20); not a timed test.

    .venv/bin/python benchmarks/ordinal_simulation.py [--reps 300] [--seed 1]

Each replication draws five-point answers (B much / B slightly / tie / A slightly / A much
better) from the cumulative-logit Bradley-Terry model with known strengths (5 models, 0, 60,
120, -60, 30 Elo on the Elo-like scale; cut-points -2, -0.7, 0.7, 2; pairs uniform; each answer
independent) and fits `fit_ordinal_bradley_terry` through `ordinal_block`. Printed per cell:
coverage of the 95% Fisher intervals of the centred ratings (nominal 0.95, Monte Carlo error
`mc`), the mean error of the best model's rating (bias, Elo), the root mean squared error over
all models, and `z ord/BT`: the mean |rating - average| / se of the ordinal fit over that of
Bradley-Terry on the same answers with strength dropped (ties as half wins, Fisher se): how
much more clearly the models are told apart when strength is used (the two fits' scales
differ, their z do not; its square is roughly the factor of votes strength is worth). A cell
with rater-specific cut-points (raters who use "much better" more or less: each rater's
cut-points scaled by a factor in [0.6, 1.6]) shows what happens when the proportional-odds
assumption holds only on average.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluations.analysis import VoteArrays, fit_bradley_terry  # noqa: E402
from evaluations.analysis.bradley_terry import ELO_SCALE  # noqa: E402
from evaluations.analysis.ordinal import ordinal_block  # noqa: E402

TRUE_ELO = np.array([0.0, 60.0, 120.0, -60.0, 30.0])
CUTS = np.array([-2.0, -0.7, 0.7, 2.0])
WINNER = ["b", "b", "tie", "a", "a"]
STRENGTH = [2, 1, 0, 1, 2]


def simulate(rng: np.random.Generator, votes: int, rater_scales: bool) -> VoteArrays:
    s = TRUE_ELO / ELO_SCALE
    m = len(s)
    a = rng.integers(0, m, votes)
    b = (a + rng.integers(1, m, votes)) % m
    rater = rng.integers(0, 20, votes)
    scale = rng.uniform(0.6, 1.6, 20)[rater] if rater_scales else np.ones(votes)
    level = ((rng.logistic(size=votes) + s[a] - s[b])[:, None] > CUTS * scale[:, None]).sum(axis=1)
    outcome = np.array([{"a": 0, "b": 1, "tie": 2}[WINNER[k]] for k in level], dtype=np.int8)
    return VoteArrays(
        model_a=a,
        model_b=b,
        outcome=outcome,
        models=[f"m{k}" for k in range(m)],
        rater=rater,
        raters=[f"r{k}" for k in range(20)],
        strength=np.array([STRENGTH[k] for k in level], dtype=np.int8),
    )


def cell(rng: np.random.Generator, reps: int, votes: int, rater_scales: bool) -> dict:
    truth = TRUE_ELO - TRUE_ELO.mean() + 1000
    covered, errors, ratio, best = [], [], [], []
    for _ in range(reps):
        data = simulate(rng, votes, rater_scales)
        block = ordinal_block(data, both_bad="tie")
        rows = {r["model"]: r for r in block["models"]}
        for k in range(len(truth)):
            row = rows[f"m{k}"]
            covered.append(row["ci_low"] <= truth[k] <= row["ci_high"])
            errors.append(row["rating"] - truth[k])
        best.append(rows["m2"]["rating"] - truth[2])
        score = np.where(data.outcome == 0, 1.0, np.where(data.outcome == 1, 0.0, 0.5))
        bt = fit_bradley_terry(data.model_a, data.model_b, score, np.ones(len(score)), 5)
        z_bt = np.mean(np.abs(bt.theta) / np.sqrt(np.diag(bt.fisher_cov)))
        z_ord = np.mean([abs(r["rating"] - 1000) / r["se"] for r in block["models"]])
        ratio.append(z_ord / z_bt)
    p = float(np.mean(covered))
    return {
        "coverage": p,
        "mc": (p * (1 - p) / len(covered)) ** 0.5,
        "bias": float(np.mean(best)),
        "rmse": float(np.sqrt(np.mean(np.square(errors)))),
        "width_ratio": float(np.mean(ratio)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{args.reps} replications per cell, 5 models, true ratings {TRUE_ELO.tolist()} Elo")
    print(f"{'cell':<42} {'coverage':>9} {'mc':>6} {'bias':>6} {'rmse':>6} {'z ord/BT':>9}")
    for votes, scales in ((300, False), (1000, False), (3000, False), (1000, True)):
        start = time.perf_counter()
        result = cell(rng, args.reps, votes, scales)
        name = f"{votes} answers" + (", rater-specific cut-points" if scales else "")
        seconds = time.perf_counter() - start
        print(
            f"{name:<42} {result['coverage']:>9.3f} {result['mc']:>6.3f} {result['bias']:>6.1f} "
            f"{result['rmse']:>6.1f} {result['width_ratio']:>9.3f}  ({seconds:.1f} s)"
        )


if __name__ == "__main__":
    main()
