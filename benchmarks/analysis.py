"""Benchmark: this module against a reference implementation of Chatbot Arena's method.

Prints figures; not a timed test. Run: .venv/bin/python benchmarks/analysis.py [--votes N]
[--only core|end-to-end] [--repeat R]

End to end: the same votes written as a battle-format CSV file (model_a, model_b, winner), then
`manage.py analyze FILE --bootstrap 1000 --seed 0` timed as a subprocess beside the reference
pipeline as a subprocess (Python start-up, pandas read_csv, the counts, the L-BFGS-B fit and
its 1000-round bootstrap: FastChat's `elo_analysis.py` reads battles with pandas), alternated
R times, with the start-up of `manage.py analyze --help` on its own.

Data: synthetic votes over 100 models, ~20% ties, stored as integer codes. The reference is
Chatbot Arena's current Bradley-Terry (FastChat `rating_systems.py`): unique (a, b, outcome)
rows with counts, scipy L-BFGS-B on the logistic loss (gtol 1e-6), and a bootstrap that refits
on multinomially resampled counts, one fit per round, single process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# One BLAS thread: the solves here are 100 x 100, where OpenBLAS threads only add contention
# (on a loaded 2-core machine they made the point fit 70x slower); the bootstrap parallelises
# its blocks itself.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.optimize import minimize  # noqa: E402
from scipy.special import expit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluations.analysis import (  # noqa: E402
    ELO_SCALE,
    bootstrap_bradley_terry,
    fit_bradley_terry,
    pair_counts,
    refit_bradley_terry,
)


def votes_simulate(n_votes: int, n_models: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    true = rng.normal(0, 1, n_models)
    a = rng.integers(0, n_models, n_votes, dtype=np.int32)
    b = rng.integers(0, n_models - 1, n_votes, dtype=np.int32)
    b[b >= a] += 1
    p = expit(true[a] - true[b])
    tie = p * (1 - p)  # ~20% ties overall, and P(win) + P(tie)/2 = p
    u = rng.random(n_votes)
    outcome = np.where(u < p - tie / 2, 0, np.where(u < p + tie / 2, 2, 1)).astype(np.int8)
    return a, b, outcome


def ours_point(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, m: int) -> tuple[Any, ...]:
    pc = pair_counts(a, b, outcome, m)
    k = len(pc.first)
    cells = (
        np.repeat(pc.first, 3),
        np.repeat(pc.second, 3),
        np.tile([1.0, 0.0, 0.5], k),
        pc.counts[:, :3].ravel(),
    )
    return cells, fit_bradley_terry(*cells, m)


def ours_bootstrap(
    a: np.ndarray, b: np.ndarray, outcome: np.ndarray, m: int, rounds: int
) -> tuple[Any, ...]:
    cells, fit = ours_point(a, b, outcome, m)
    boot = bootstrap_bradley_terry(*cells, m, rounds, seed=0, fit=fit)
    return cells, fit, boot


# --- reference: Chatbot Arena's method -------------------------------------------------------


def reference_preprocess(
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    m: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    key = (a.astype(np.int64) * m + b) * 3 + outcome
    unique, counts = np.unique(key, return_counts=True)
    matchups = np.stack([unique // 3 // m, unique // 3 % m], axis=1)
    outcomes = np.array([1.0, 0.0, 0.5])[unique % 3]
    return matchups, outcomes, counts.astype(np.float64)


def reference_loss_and_grad(
    ratings: np.ndarray,
    matchups: np.ndarray,
    outcomes: np.ndarray,
    weights: np.ndarray,
    alpha: float,
) -> tuple[float, np.ndarray]:
    matchup_ratings = ratings[matchups]
    logits = alpha * (matchup_ratings[:, 0] - matchup_ratings[:, 1])
    probs = expit(logits)
    loss = -((np.log(probs) * outcomes + np.log(1.0 - probs) * (1.0 - outcomes)) * weights).sum()
    grads = -alpha * (outcomes - probs) * weights
    model_grad = np.zeros_like(ratings)
    np.add.at(model_grad, matchups[:, [0, 1]], grads[:, None] * np.array([1.0, -1.0]))
    return loss, model_grad


def reference_fit(
    matchups: np.ndarray,
    outcomes: np.ndarray,
    weights: np.ndarray,
    m: int,
) -> np.ndarray:
    result = minimize(
        reference_loss_and_grad,
        np.zeros(m),
        args=(matchups, outcomes, weights, np.log(10.0)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 100, "gtol": 1e-6},
    )
    return 1000.0 + 400.0 * result["x"]


def reference_bootstrap(
    matchups: np.ndarray,
    outcomes: np.ndarray,
    weights: np.ndarray,
    m: int,
    rounds: int,
    n_votes: int,
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed=0)
    draws = rng.multinomial(n=n_votes, pvals=weights / weights.sum(), size=rounds)
    boot_weights = draws.astype(np.float64) / n_votes
    return np.array([reference_fit(matchups, outcomes, w, m) for w in boot_weights]), draws


# --- timing ----------------------------------------------------------------------------------


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def votes_write_csv(path: Path, a: np.ndarray, b: np.ndarray, outcome: np.ndarray) -> None:
    names = np.array([f"model-{k:03d}" for k in range(max(a.max(), b.max()) + 1)])
    winners = np.array(["model_a", "model_b", "tie"])
    with path.open("w") as out:
        out.write("model_a,model_b,winner\n")
        out.write(
            "\n".join(
                f"{x},{y},{w}" for x, y, w in zip(names[a], names[b], winners[outcome], strict=True)
            )
        )
        out.write("\n")


def reference_pipeline(path: str, rounds: int) -> None:
    """The reference end to end, in its own process: read the file with pandas, then Chatbot
    Arena's counts, fit and bootstrap. Prints the point ratings as JSON."""
    import pandas as pd

    battles = pd.read_csv(path, dtype=str, keep_default_na=False)
    models, codes = np.unique(
        np.concatenate([battles["model_a"].to_numpy(), battles["model_b"].to_numpy()]),
        return_inverse=True,
    )
    n = len(battles)
    outcome = battles["winner"].map({"model_a": 0, "model_b": 1, "tie": 2}).to_numpy()
    m = len(models)
    matchups, outcomes, weights = reference_preprocess(codes[:n], codes[n:], outcome, m)
    ratings = reference_fit(matchups, outcomes, weights, m)
    reference_bootstrap(matchups, outcomes, weights, m, rounds, n)
    print(json.dumps(dict(zip(models.tolist(), ratings.tolist(), strict=True))))


def run_timed(command: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system of the child and its threads) and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, done.stdout


def end_to_end(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, repeat: int) -> None:
    rounds = 1000
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "votes.csv"
        votes_write_csv(path, a, b, outcome)
        print(
            f"\nend to end on {path.stat().st_size / 1e6:.0f} MB of CSV, {rounds} bootstrap "
            f"rounds, each command a fresh process, alternated {repeat} times (wall / CPU s)"
        )
        ours_cmd = [python, "manage.py", "analyze", str(path), "--bootstrap", str(rounds)]
        ours_cmd += ["--seed", "0"]
        ref_cmd = [python, __file__, "--reference-pipeline", str(path), "--rounds", str(rounds)]
        help_cmd = [python, "manage.py", "analyze", "--help"]
        times: dict[str, list[tuple[float, float]]] = {"ours": [], "reference": [], "help": []}
        for _ in range(repeat):
            wall, cpu, out_ours = run_timed(ours_cmd)
            times["ours"].append((wall, cpu))
            wall, cpu, out_ref = run_timed(ref_cmd)
            times["reference"].append((wall, cpu))
            wall, cpu, _ = run_timed(help_cmd)
            times["help"].append((wall, cpu))
        median = {
            k: tuple(statistics.median(x[i] for x in v) for i in (0, 1)) for k, v in times.items()
        }
        print(
            f"  manage.py analyze (end to end):  {median['ours'][0]:7.2f} / "
            f"{median['ours'][1]:6.2f}"
        )
        print(
            f"  reference pipeline (end to end): {median['reference'][0]:7.2f} / "
            f"{median['reference'][1]:6.2f}"
        )
        print(
            f"  ratio ours / reference:          {median['ours'][0] / median['reference'][0]:7.3f}"
            f" / {median['ours'][1] / median['reference'][1]:6.3f}   (target at most 0.15)"
        )
        startup = median["help"]
        print(
            f"  of which start-up (manage.py analyze --help): {startup[0]:.2f} / {startup[1]:.2f};"
            " without it the ratio is "
            f"{(median['ours'][0] - startup[0]) / median['reference'][0]:.3f}"
        )
        document = json.loads(out_ours)
        ours = {row["model"]: row["rating"] for row in document["models"]}
        reference = json.loads(out_ref)
        print(
            "  point ratings, manage.py analyze vs the reference, max |difference| (Elo): "
            f"{max(abs(ours[k] - reference[k]) for k in reference):.5f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--only", choices=["core", "end-to-end"], default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-pipeline", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_pipeline:
        reference_pipeline(args.reference_pipeline, args.rounds)
        return
    m = args.models
    a, b, outcome = votes_simulate(args.votes, m, seed=1)
    print(
        f"{args.votes:,} votes, {m} models, ties {np.mean(outcome == 2):.1%}, "
        f"codes {a.dtype}/{outcome.dtype}; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} (other work on the machine slows both sides)"
    )
    if args.only != "core":
        end_to_end(a, b, outcome, args.repeat)
    if args.only == "end-to-end":
        return

    t_count, _ = timed(lambda: pair_counts(a, b, outcome, m), 7)
    print(f"one pass over the votes into counts:            {t_count * 1e3:8.1f} ms")
    t_point, (cells, fit) = timed(lambda: ours_point(a, b, outcome, m), 7)
    print(f"ours: counts + point fit + sandwich intervals:  {t_point * 1e3:8.1f} ms")
    t_b100, _ = timed(lambda: ours_bootstrap(a, b, outcome, m, 100), 3)
    t_b1000, (_, _, boot) = timed(lambda: ours_bootstrap(a, b, outcome, m, 1000), 2)
    print(f"ours: point fit + 100 bootstrap rounds:         {t_b100:8.3f} s")
    print(f"ours: point fit + 1000 bootstrap rounds:        {t_b1000:8.3f} s")

    start = time.perf_counter()
    matchups, outcomes, weights = reference_preprocess(a, b, outcome, m)
    ref_ratings = reference_fit(matchups, outcomes, weights, m)
    r_point = time.perf_counter() - start
    start = time.perf_counter()
    reference_bootstrap(matchups, outcomes, weights, m, 100, args.votes)
    r_b100 = r_point + time.perf_counter() - start
    start = time.perf_counter()
    ref_boot, ref_draws = reference_bootstrap(matchups, outcomes, weights, m, 1000, args.votes)
    r_b1000 = r_point + time.perf_counter() - start
    print(f"reference: point fit:                           {r_point:8.3f} s")
    print(f"reference: point fit + 100 bootstrap rounds:    {r_b100:8.3f} s")
    print(f"reference: point fit + 1000 bootstrap rounds:   {r_b1000:8.3f} s")
    print(
        f"speed-up (reference / ours): point {r_point / t_point:.0f}x, "
        f"100 rounds {r_b100 / t_b100:.1f}x, 1000 rounds {r_b1000 / t_b1000:.1f}x"
    )

    print("\nagreement with the reference (Elo points)")
    print(
        f"  point ratings, max |difference|:                      "
        f"{np.abs(fit.ratings - ref_ratings).max():.5f}"
    )
    ref_low, ref_high = np.percentile(ref_boot, [2.5, 97.5], axis=0)
    low, high = np.percentile(1000 + ELO_SCALE * boot.theta, [2.5, 97.5], axis=0)
    print(
        f"  95% bootstrap bounds, own draws, max |difference|:    "
        f"{max(np.abs(low - ref_low).max(), np.abs(high - ref_high).max()):.3f}"
    )
    # Our batched solver on the reference's own resamples isolates the solver from the draws.
    same = 1000 + ELO_SCALE * refit_bradley_terry(
        matchups[:, 0],
        matchups[:, 1],
        outcomes,
        ref_draws,
        m,
        fit_bradley_terry(matchups[:, 0], matchups[:, 1], outcomes, weights, m),
    )
    s_low, s_high = np.percentile(same, [2.5, 97.5], axis=0)
    print(
        f"  95% bounds, same draws as the reference, max |diff|:  "
        f"{max(np.abs(s_low - ref_low).max(), np.abs(s_high - ref_high).max()):.3f}"
    )
    print(
        f"  per-round ratings, same draws, max |difference|:      "
        f"{np.abs(same - ref_boot).max():.3f}"
    )
    se = np.sqrt(np.diag(fit.cov)) * ELO_SCALE
    bound_diff = max(
        np.abs(fit.ratings - 1.96 * se - ref_low).max(),
        np.abs(fit.ratings + 1.96 * se - ref_high).max(),
    )
    print(f"  sandwich 95% bounds vs reference bootstrap, max |diff|: {bound_diff:.3f}")
    print(f"  typical interval half-width: {np.median(1.96 * se):.2f}")


if __name__ == "__main__":
    main()
