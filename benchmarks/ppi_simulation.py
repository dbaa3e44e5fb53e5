"""Simulated studies for prediction-powered ratings with one LLM judge whose verdicts carry
log-probabilities (issue 15); statistics_simulation.py prints its cells, and
tests/analysis/test_ppi_logprob_simulation.py runs a small one.

    .venv/bin/python benchmarks/ppi_simulation.py [--reps 300] [--seed 1]

Design (state it beside any number it gives):
- Truth: 6 models, ratings drawn N(0, 100 Elo) and centred; every row a random pair of two
  different models; the human vote y ~ Bernoulli(expit(theta_a - theta_b)), Bradley-Terry
  exactly, no ties; n human-labelled rows (default 300) and N judged-only rows (default 6000:
  the judge runs on every pair, humans on a random 1 in 21).
- Judge: asked in both presentation orders. Each call has evidence t = (2y - 1) mu + e, e
  standard normal (equal-variance signal detection), the two orders' e correlated
  `order_corr`. The call's verdict is "a" when t > 0, so a call agrees with the human vote with
  probability Phi(mu) = `agreement` ("per call"); with `pair_level`, mu is chosen so that the
  sign of the two calls' mean evidence (the judge's combined verdict) agrees with probability
  `agreement` instead. The verdict token's probability is expit(kappa t): kappa = 2 mu would be
  calibrated; the default kappa = 4 makes the judge over-confident (probability >= 0.9 on
  about half of the calls at 80%), as LLM judges are, which the recalibration must undo.
- Methods: the judge's pair score (research/judging/ppi.py: verdicts averaged over the orders,
  or the orders' probabilities averaged on the log-odds scale), raw or recalibrated by
  cross-fitting on the human rows (evaluations/analysis/ppi_crossfit.py), then PPI++
  (evaluations/analysis/ppi.py). "product" is what the product runs when the provider gives
  log-probabilities: probabilities, recalibrated.
- Reported per method: coverage of the 95% intervals of the centred ratings (share over the
  models, averaged over studies; its Monte Carlo error from the per-study shares), and the
  width ratio: mean PPI se over mean human-only se (the same human votes, Bradley-Terry alone).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluations.analysis.bradley_terry import ELO_SCALE  # noqa: E402
from evaluations.analysis.ppi import ppi_bradley_terry  # noqa: E402
from evaluations.analysis.ppi_crossfit import judge_scores_crossfit  # noqa: E402
from research.judging.ppi import judge_pair_score  # noqa: E402

Z95 = 1.959963984540054
METHODS = ("verdicts", "verdicts recalibrated", "probabilities", "product")


@dataclass
class MethodResult:
    coverage: list[float]
    se: list[float]
    se_human: list[float]
    human_coverage: list[float]
    tuning: list[float]
    effective: list[float]

    @property
    def width_ratio(self) -> float:
        return float(np.mean(self.se) / np.mean(self.se_human))

    @property
    def coverage_mc(self) -> float:
        return float(np.std(self.coverage, ddof=1) / np.sqrt(len(self.coverage)))


def call_mu(agreement: float, order_corr: float, pair_level: bool) -> float:
    mu = float(norm.ppf(agreement))
    # The mean of two evidences has noise sd sqrt((1 + r) / 2).
    return mu * np.sqrt((1 + order_corr) / 2) if pair_level else mu


def judge_calls_simulate(
    rng: np.random.Generator, y: np.ndarray, *, mu: float, order_corr: float, kappa: float
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Verdicts ("a"/"b") and model_a probabilities for the orders "ab" and "ba"."""
    e1 = rng.standard_normal(len(y))
    e2 = order_corr * e1 + np.sqrt(1 - order_corr**2) * rng.standard_normal(len(y))
    verdicts, probs = {}, {}
    for order, e in (("ab", e1), ("ba", e2)):
        t = (2 * y - 1) * mu + e
        verdicts[order] = np.where(t > 0, "a", "b")
        probs[order] = expit(kappa * t)
    return verdicts, probs


def ppi_study_simulate(
    rng: np.random.Generator,
    reps: int,
    *,
    agreement: float,
    order_corr: float = 0.0,
    pair_level: bool = False,
    kappa: float = 4.0,
    n: int = 300,
    big_n: int = 6000,
    m: int = 6,
    methods: tuple[str, ...] = METHODS,
) -> dict[str, MethodResult]:
    mu = call_mu(agreement, order_corr, pair_level)
    results = {k: MethodResult([], [], [], [], [], []) for k in methods}
    rows = n + big_n
    for _ in range(reps):
        truth = rng.normal(0, 100, m) / ELO_SCALE
        truth -= truth.mean()
        a = rng.integers(0, m, rows)
        b = (a + rng.integers(1, m, rows)) % m
        y = (rng.random(rows) < expit(truth[a] - truth[b])).astype(float)
        verdicts, probs = judge_calls_simulate(rng, y, mu=mu, order_corr=order_corr, kappa=kappa)
        orders = list(verdicts)
        by_verdict = np.array(
            [judge_pair_score({o: verdicts[o][i] for o in orders}) for i in range(rows)]
        )
        by_prob = np.array(
            [
                judge_pair_score(
                    {o: verdicts[o][i] for o in orders}, {o: probs[o][i] for o in orders}
                )
                for i in range(rows)
            ]
        )
        human = y.copy()
        human[n:] = np.nan
        for method in methods:
            score = by_prob if method in ("probabilities", "product") else by_verdict
            if method.endswith("recalibrated") or method == "product":
                score = judge_scores_crossfit(a, b, score, human, m)
            fit = ppi_bradley_terry(a, b, score, human, m)
            se = np.sqrt(np.diag(fit.cov))
            se_h = np.sqrt(np.diag(fit.human_only_cov))
            r = results[method]
            r.coverage.append(float(np.mean(np.abs(fit.theta - truth) <= Z95 * se)))
            r.human_coverage.append(
                float(np.mean(np.abs(fit.human_only_theta - truth) <= Z95 * se_h))
            )
            r.se.append(float(se.mean()))
            r.se_human.append(float(se_h.mean()))
            r.tuning.append(fit.tuning)
            r.effective.append(fit.effective_human_votes)
    return results


def oracle_width_bound(
    *,
    agreement: float,
    order_corr: float,
    pair_level: bool,
    n: int,
    big_n: int,
    draws: int = 400_000,
    seed: int = 0,
) -> float:
    """The width ratio PPI would reach with the Bayes posterior P(y | both calls' evidence)
    as the score, for one scalar mean: sqrt(1 - rho^2 / (1 + n / N)), rho the correlation of
    that posterior with y (y balanced). No score built from these calls can do better."""
    rng = np.random.default_rng(seed)
    mu = call_mu(max(agreement, 1 - agreement), order_corr, pair_level)
    if mu == 0:
        return 1.0
    y = (rng.random(draws) < 0.5).astype(float)
    e1 = rng.standard_normal(draws)
    e2 = order_corr * e1 + np.sqrt(1 - order_corr**2) * rng.standard_normal(draws)
    mean_evidence = (2 * y - 1) * mu + (e1 + e2) / 2
    # Sufficient statistic: the mean evidence, noise variance (1 + r) / 2.
    posterior = expit(2 * mu * mean_evidence / ((1 + order_corr) / 2))
    rho2 = np.corrcoef(posterior, y)[0, 1] ** 2
    return float(np.sqrt(1 - rho2 / (1 + n / big_n)))


CELLS = (
    # label, agreement, order_corr, pair_level, big_n, share of the replications (the cell with
    # 30,000 judged pairs costs five times as much per study)
    ("80% per call, orders independent", 0.8, 0.0, False, 6000, 1.0),
    ("80% per call, orders independent, N 30000", 0.8, 0.0, False, 30000, 1 / 3),
    ("80% per call, orders' noise corr 0.5", 0.8, 0.5, False, 6000, 1.0),
    ("80% combined verdict, orders' noise corr 0.5", 0.8, 0.5, True, 6000, 1.0),
    ("80% one call (orders identical)", 0.8, 1.0, False, 6000, 1.0),
    ("70% per call, orders independent", 0.7, 0.0, False, 6000, 1.0),
    ("90% per call, orders independent", 0.9, 0.0, False, 6000, 1.0),
    ("95% per call, orders independent", 0.95, 0.0, False, 6000, 1.0),
    ("useless judge 50%", 0.5, 0.0, False, 6000, 1.0),
    ("adversarial judge 20%", 0.2, 0.0, False, 6000, 1.0),
)


def run_cells(rng: np.random.Generator, reps: int, only: str = "", n: int = 300) -> None:
    print(
        f"PPI with log-probabilities (benchmarks/ppi_simulation.py docstring): 6 models, n {n} "
        "human votes, N judged-only pairs (6000 unless stated), judge over-confident (kappa 4); "
        "coverage (Monte Carlo error) of the centred ratings' 95% intervals; width = mean PPI se "
        "/ mean human-only se; bound = Bayes-posterior score, one scalar mean"
    )
    for label, agreement, corr, pair_level, big_n, share in CELLS:
        if only and only not in f"PPI logprob {label}":
            continue
        t0 = time.time()
        cell_reps = max(2, round(reps * share))
        res = ppi_study_simulate(
            rng,
            cell_reps,
            agreement=agreement,
            order_corr=corr,
            pair_level=pair_level,
            n=n,
            big_n=big_n,
        )
        bound = oracle_width_bound(
            agreement=agreement, order_corr=corr, pair_level=pair_level, n=n, big_n=big_n
        )
        human = np.mean(next(iter(res.values())).human_coverage)
        print(f"  {label}: {cell_reps} reps, humans alone coverage {human:.3f}, bound {bound:.3f}"
              f"  ({time.time() - t0:.0f}s)")  # fmt: skip
        for method, r in res.items():
            ratio = r.width_ratio
            print(
                f"    {method:<22} coverage {np.mean(r.coverage):.3f} ({r.coverage_mc:.3f})  "
                f"width {ratio:.3f} ({1 - ratio:.0%} narrower)  lambda {np.mean(r.tuning):.2f}  "
                f"effective human votes {np.mean(r.effective):.0f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cells", default="", help="run only cells whose label contains this")
    args = parser.parse_args()
    run_cells(np.random.default_rng(args.seed), args.reps, args.cells)


if __name__ == "__main__":
    main()
