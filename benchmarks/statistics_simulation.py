"""Simulation checks of the analysis' intervals and tests (issue 15); not a timed test.

    .venv/bin/python benchmarks/statistics_simulation.py [--reps 300] [--full] [--seed 1]

Each cell simulates `reps` studies from a known truth and runs `evaluations.analysis.analyze`
(or, for the sequential and PPI checks, the building blocks) on each. Coverage is the share of
95% intervals that contain the truth: over all models for ratings (centred, as reported) and
over all pairs for rating differences, which is the coverage of the win-probability intervals
(a monotone transform of the difference). "mc" is the Monte Carlo standard error
sqrt(p (1 - p) / reps) (for ratings and pairs, on the per-study share, so it accounts for the
dependence between the models of one study). FWER: the share of studies with all models equal
in which some pair's Holm-adjusted p-value is below 0.05. --full runs 1000 replications.
--cells TEXT runs only the coverage and PPI cells whose label contains TEXT (--cells PPI: all
the PPI cells, which run judge verdicts through the product's scoring, judging/ppi.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ppi_simulation import run_cells as ppi_logprob_cells  # noqa: E402
from evaluations.analysis import VoteArrays, analyze, fit_bradley_terry  # noqa: E402
from evaluations.analysis.bradley_terry import ELO_SCALE  # noqa: E402
from evaluations.analysis.power import votes_needed  # noqa: E402
from evaluations.analysis.ppi import ppi_bradley_terry  # noqa: E402
from evaluations.analysis.sequential import anytime_p_value  # noqa: E402
from research.judging.ppi import judge_pair_score  # noqa: E402

Z95 = 1.959963984540054


def _designs(rng: np.random.Generator, n: int, m: int, pairs: np.ndarray | None = None):
    if pairs is None:
        a = rng.integers(0, m, n)
        b = (a + rng.integers(1, m, n)) % m
    else:
        k = rng.integers(0, len(pairs), n)
        a, b = pairs[k, 0], pairs[k, 1]
    return a, b


def _outcomes(rng, d, tie_model=None, nu=0.0):
    """Outcome codes (0 a wins, 1 b wins, 2 tie) for log-odds differences d."""
    u = rng.random(len(d))
    if tie_model == "davidson":
        pa, pb = np.exp(d / 2), np.exp(-d / 2)
        total = pa + pb + nu
        return np.where(u < pa / total, 0, np.where(u < (pa + nu) / total, 2, 1)).astype(np.int8)
    if tie_model == "half":
        # 20% ties independent of strength; decisive votes follow Bradley-Terry.
        tie = rng.random(len(d)) < 0.2
        return np.where(tie, 2, np.where(u < expit(d), 0, 1)).astype(np.int8)
    return np.where(u < expit(d), 0, 1).astype(np.int8)


def _votes(a, b, out, m, rater=None, prompt=None, features=None):
    return VoteArrays(
        model_a=a,
        model_b=b,
        outcome=out,
        models=[f"m{i:02d}" for i in range(m)],
        rater=rater,
        raters=[f"r{i}" for i in range(int(rater.max()) + 1)] if rater is not None else [],
        prompt=prompt,
        features=features or {},
    )


def _coverage(doc, truth, key="models"):
    rows = {r["model"]: r for r in doc[key]}
    names = sorted(rows)
    idx = [int(n[1:]) for n in names]
    true = truth[idx] - truth[idx].mean()
    lo = np.array([rows[n]["ci_low"] if rows[n]["ci_low"] is not None else -np.inf for n in names])
    hi = np.array([rows[n]["ci_high"] if rows[n]["ci_high"] is not None else np.inf for n in names])
    return float(np.mean((lo - 1000 <= true) & (true <= hi - 1000)))


def _pair_coverage(doc, truth):
    hits = []
    for p in doc["pairwise"]:
        i, j = int(p["model_a"][1:]), int(p["model_b"][1:])
        true = expit((truth[i] - truth[j]) / ELO_SCALE)
        hits.append(p["ci_low"] <= true <= p["ci_high"])
    return float(np.mean(hits))


def _holm_any(doc, key="p_value_holm"):
    return any(p[key] is not None and p[key] < 0.05 for p in doc["pairwise"])


CELLS = ""


def _row(name, reps, values, extra=""):
    v = np.asarray(values, dtype=float)
    mean = v.mean()
    mc = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    print(f"{name:<58} {reps:>5} {mean:>7.3f} {mc:>6.3f}  {extra}")
    return mean


def cell_study(
    rng,
    *,
    m,
    n,
    elo_sd=100.0,
    raters=None,
    prompts=None,
    taste=0.0,
    prompt_sd=0.0,
    tie_model=None,
    sparse=None,
    equal=False,
):
    truth = np.zeros(m) if equal else rng.normal(0, elo_sd, m)
    pairs = None
    if sparse is not None:
        all_pairs = np.array([(i, j) for i in range(m) for j in range(i + 1, m)])
        keep = rng.random(len(all_pairs)) < sparse
        # Chain the models so the comparison graph is connected, as a real design would.
        chain = np.c_[np.arange(m - 1), np.arange(1, m)]
        pairs = np.unique(np.r_[all_pairs[keep], chain], axis=0)
    a, b = _designs(rng, n, m, pairs)
    theta = truth / ELO_SCALE
    d = theta[a] - theta[b]
    rater = prompt = None
    if raters is not None:
        rater = np.repeat(np.arange(raters), n // raters)
        d = d + _effects(rng, raters, m, taste, rater, a, b)
    if prompts is not None:
        prompt = rng.integers(0, prompts, n)
        d = d + _effects(rng, prompts, m, prompt_sd, prompt, a, b)
    nu = 0.0
    if tie_model == "davidson":
        nu = 0.5  # about 20% ties at these strengths
    out = _outcomes(rng, d, tie_model, nu)
    return truth, _votes(a, b, out, m, rater, prompt)


def _effects(rng, g, m, sd, codes, a, b):
    if sd == 0:
        return 0.0
    shift = rng.normal(0, sd / ELO_SCALE, (g, m))
    return shift[codes, a] - shift[codes, b]


def marginal_truth(truth, effect_var):
    """Population-average ratings: the Bradley-Terry ratings of E sigma(d + e) over the rater and
    prompt effects e ~ N(0, effect_var). With random tastes the logistic model's marginal
    preferences are attenuated; these are what "raters (prompts) like these" prefer on average,
    and what any fit of the votes estimates."""
    if effect_var == 0:
        return truth
    m = len(truth)
    i, j = np.triu_indices(m, 1)
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    d = (truth[i] - truth[j])[:, None] / ELO_SCALE + np.sqrt(effect_var) * nodes[None, :]
    score = expit(d) @ weights / weights.sum()
    fit = fit_bradley_terry(i, j, score, np.full(len(i), 1e6), m)
    return fit.ratings - 1000


def run_coverage(rng, reps, label, analyze_kwargs, **study):
    if CELLS and CELLS not in label:
        return
    cov_r, cov_p = [], []
    t0 = time.time()
    effect_var = 2 * (study.get("taste", 0.0) ** 2 + study.get("prompt_sd", 0.0) ** 2)
    effect_var /= ELO_SCALE**2
    for _ in range(reps):
        truth, votes = cell_study(rng, **study)
        truth = marginal_truth(truth, effect_var)
        doc = analyze(votes, **analyze_kwargs)
        cov_r.append(_coverage(doc, truth))
        cov_p.append(_pair_coverage(doc, truth))
    extra = f"pairs {np.mean(cov_p):.3f} ({np.std(cov_p, ddof=1) / np.sqrt(reps):.3f})"
    _row(label, reps, cov_r, extra + f"  {time.time() - t0:.0f}s")


def run_fwer(rng, reps, label, analyze_kwargs, **study):
    hits = []
    for _ in range(reps):
        _, votes = cell_study(rng, equal=True, **study)
        hits.append(_holm_any(analyze(votes, **analyze_kwargs)))
    _row(label, reps, hits)


def half_truth(truth, tie_model, nu=0.5):
    """The half-win Bradley-Terry ratings that data with worths `truth` converge to."""
    m = len(truth)
    i, j = np.triu_indices(m, 1)
    d = (truth[i] - truth[j]) / ELO_SCALE
    if tie_model == "davidson":
        pa, pb = np.exp(d / 2), np.exp(-d / 2)
        score = (pa + nu / 2) / (pa + pb + nu)
    else:
        score = 0.1 + 0.8 * expit(d)
    fit = fit_bradley_terry(i, j, score, np.full(len(i), 1e6), m)
    return fit.ratings - 1000


def run_ties(rng, reps, tie_model, ties):
    cov_r, cov_p = [], []
    for _ in range(reps):
        truth, votes = cell_study(rng, m=8, n=1500, tie_model=tie_model)
        target = truth if ties == "davidson" else half_truth(truth, tie_model)
        doc = analyze(votes, ties=ties, cluster="none")
        cov_r.append(_coverage(doc, target))
        cov_p.append(_pair_coverage(doc, target))
    _row(
        f"20% ties ({tie_model} data), --ties {ties}, 8 models 1500 votes",
        reps,
        cov_r,
        f"pairs {np.mean(cov_p):.3f} ({np.std(cov_p, ddof=1) / np.sqrt(reps):.3f})",
    )


def run_style(rng, reps):
    cov_r, cov_b = [], []
    for _ in range(reps):
        m, n = 6, 2000
        truth = rng.normal(0, 100, m)
        a, b = _designs(rng, n, m)
        la, lb = rng.uniform(100, 1000, n), rng.uniform(100, 1000, n)
        diff = (la - lb) / (la + lb)
        beta = 0.4
        d = (truth[a] - truth[b]) / ELO_SCALE + beta * diff / diff.std()
        out = _outcomes(rng, d)
        votes = _votes(a, b, out, m, features={"length": (la, lb)})
        doc = analyze(votes, cluster="none")["style_control"]
        cov_r.append(_coverage(doc, truth))
        c = doc["coefficients"][0]
        cov_b.append(c["ci_low"] <= beta <= c["ci_high"])
    _row("style control: ratings, 6 models 2000 votes", reps, cov_r)
    _row("style control: length coefficient", reps, cov_b)


def _judge_verdicts(rng, y, agreement, shared, call_corr):
    """One judge's verdicts ("a"/"b") in the two presentation orders on every row.

    Each call agrees with the human vote y with probability `agreement`. Calls' errors are
    correlated `call_corr` (between the two orders and between judges alike: with probability
    sqrt(call_corr) a call's correctness is decided by the pair's `shared` uniform draw, a pair
    that is hard for every call, otherwise by its own draw).
    """
    verdicts = {}
    for order in ("ab", "ba"):
        draw = np.where(rng.random(len(y)) < np.sqrt(call_corr), shared, rng.random(len(y)))
        verdicts[order] = np.where(np.where(draw < agreement, y == 1, y == 0), "a", "b")
    return verdicts


def _favour(verdicts, a, b, model):
    """The judge picks `model` whenever it is in the pair, whatever it says otherwise."""
    for order in verdicts:
        verdicts[order] = np.where(a == model, "a", np.where(b == model, "b", verdicts[order]))
    return verdicts


def run_ppi(
    rng, reps, label, agreements, *, orders=2, call_corr=0.0, favour=None, n=300, big_n=6000, m=6
):
    """PPI++ as the product computes it: each judge's score is judge_pair_score over the orders
    judged (evaluations/judging/ppi.py), one column per judge, then ppi_bradley_terry."""
    if CELLS and CELLS not in f"PPI++ {label}":
        return
    cover, cover_h, width, width_h, eff, weights = [], [], [], [], [], []
    t0 = time.time()
    for _ in range(reps):
        truth = rng.normal(0, 100, m) / ELO_SCALE
        truth -= truth.mean()
        a, b = _designs(rng, n + big_n, m)
        y = (rng.random(n + big_n) < expit(truth[a] - truth[b])).astype(float)
        columns = []
        shared = rng.random(n + big_n)
        for agreement in agreements:
            verdicts = _judge_verdicts(rng, y, agreement, shared, call_corr)
            if favour is not None:
                verdicts = _favour(verdicts, a, b, favour)
            shown = list(verdicts)[:orders]
            columns.append(
                [judge_pair_score({o: verdicts[o][i] for o in shown}) for i in range(n + big_n)]
            )
        human = y.copy()
        human[n:] = np.nan
        fit = ppi_bradley_terry(a, b, np.array(columns).T, human, m)
        se = np.sqrt(np.diag(fit.cov))
        se_h = np.sqrt(np.diag(fit.human_only_cov))
        cover.append(np.mean(np.abs(fit.theta - truth) <= Z95 * se))
        cover_h.append(np.mean(np.abs(fit.human_only_theta - truth) <= Z95 * se_h))
        width.append(se.mean())
        width_h.append(se_h.mean())
        eff.append(fit.effective_human_votes)
        weights.append(fit.judge_weights)
    ratio = np.mean(width) / np.mean(width_h)
    lam = "/".join(f"{w:.2f}" for w in np.mean(weights, axis=0))
    _row(
        f"PPI++ {label}",
        reps,
        cover,
        f"humans alone {np.mean(cover_h):.3f}; width ratio {ratio:.3f} "
        f"({1 - ratio:.0%} narrower); lambda {lam}; effective human votes {np.mean(eff):.0f}"
        f"  {time.time() - t0:.0f}s",
    )


def run_ppi_cells(rng, reps):
    if CELLS and "PPI" not in CELLS:
        return
    print(
        "PPI++ cells: 6 models (Elo sd 100), 300 human votes on 300 pairs and 6000 pairs judged "
        "only (judges run on every pair, humans on a random 1/21); 'agreement' is each judge "
        "call's agreement with the human vote; calls' errors independent unless a correlation "
        "is given; coverage of the centred ratings; width = mean se, PPI over humans alone"
    )
    for agreement in (0.7, 0.8, 0.9):
        run_ppi(rng, reps, f"1 judge {agreement:.0%}, one verdict per pair", [agreement], orders=1)
    for agreement in (0.7, 0.8, 0.9):
        run_ppi(rng, reps, f"1 judge {agreement:.0%}, both orders (independent)", [agreement])
    run_ppi(rng, reps, "1 judge 80%, both orders, errors corr 0.5", [0.8], call_corr=0.5)
    for agreement in (0.7, 0.8, 0.9):
        run_ppi(rng, reps, f"2 judges {agreement:.0%}, both orders", [agreement, agreement])
    run_ppi(rng, reps, "2 judges 80%, both orders, errors corr 0.3", [0.8, 0.8], call_corr=0.3)
    run_ppi(rng, reps, "useless judge (50%), both orders", [0.5])
    run_ppi(rng, reps, "adversarial judge (20%), both orders", [0.2])
    run_ppi(rng, reps, "judge 80% that always picks model 0", [0.8], favour=0)
    run_ppi(rng, reps, "2 judges: 80% + useless", [0.8, 0.5])
    # One judge whose verdicts carry log-probabilities, recalibrated: the product's default.
    ppi_logprob_cells(rng, reps, CELLS)


def run_sequential(rng, reps, m=5, n_max=2000, step=25, start=100):
    naive, anytime = [], []
    for _ in range(reps):
        a, b = _designs(rng, n_max, m)
        out = rng.random(n_max) < 0.5
        score = np.where(out, 1.0, 0.0)
        hit_naive = hit_any = False
        for n in range(start, n_max + 1, step):
            fit = fit_bradley_terry(a[:n], b[:n], score[:n], np.ones(n), m)
            i, j = np.triu_indices(m, 1)
            diff = (fit.theta[i] - fit.theta[j]) * ELO_SCALE
            var = fit.cov[i, i] + fit.cov[j, j] - 2 * fit.cov[i, j]
            se = np.sqrt(np.clip(var, 1e-300, None)) * ELO_SCALE
            from scipy import stats

            p = 2 * stats.norm.sf(np.abs(diff / se))
            pa = anytime_p_value(diff, se)
            k = len(p)
            hit_naive |= bool((np.sort(p) * (k - np.arange(k)) < 0.05).any())
            hit_any |= bool((np.sort(pa) * (k - np.arange(k)) < 0.05).any())
            if hit_naive and hit_any:
                break
        naive.append(hit_naive)
        anytime.append(hit_any)
    looks = (n_max - start) // step + 1
    _row(f"sequential, all equal, {looks} looks: fixed-sample Holm p", reps, naive)
    _row(f"sequential, all equal, {looks} looks: anytime Holm p", reps, anytime)


def run_power(rng, reps, power=0.8):
    separated, planned, more = [], 0, []
    for _ in range(reps):
        m, n = 4, 600
        truth = np.array([0.0, 40.0, 120.0, 200.0])
        a, b = _designs(rng, n, m)
        d = (truth[a] - truth[b]) / ELO_SCALE
        y = (_outcomes(rng, d) == 0).astype(float)
        fit = fit_bradley_terry(a, b, y, np.ones(n), m)
        diff = (fit.theta[1] - fit.theta[0]) * ELO_SCALE
        se = np.sqrt(fit.cov[0, 0] + fit.cov[1, 1] - 2 * fit.cov[0, 1]) * ELO_SCALE
        plan = votes_needed(diff, se, n, power=power, crit=Z95)
        if plan["additional_votes"] is None:
            continue
        planned += 1
        extra = plan["additional_votes"]
        a2, b2 = _designs(rng, extra, m)
        d2 = (truth[a2] - truth[b2]) / ELO_SCALE
        y2 = (_outcomes(rng, d2) == 0).astype(float)
        aa, bb, yy = np.r_[a, a2], np.r_[b, b2], np.r_[y, y2]
        full = fit_bradley_terry(aa, bb, yy, np.ones(len(aa)), m)
        d_full = full.theta[1] - full.theta[0]
        se_full = np.sqrt(full.cov[0, 0] + full.cov[1, 1] - 2 * full.cov[0, 1])
        separated.append(abs(d_full / se_full) > Z95)
        if extra > 0:
            more.append(separated[-1])
    _row(
        f"votes_needed at {power:.0%} power, true gap 40 Elo: share separated",
        len(separated),
        separated,
        f"planned in {planned}/{reps} studies (others: cannot be separated at any size); "
        f"of the {len(more)} not yet separated: {np.mean(more):.3f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--full", action="store_true", help="1000 replications per cell")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cells", default="", help="run only cells whose label contains this")
    args = parser.parse_args()
    reps = 1000 if args.full else args.reps
    global CELLS
    CELLS = args.cells
    rng = np.random.default_rng(args.seed)
    print(f"{'cell':<58} {'reps':>5} {'value':>7} {'mc':>6}")
    none = {"cluster": "none"}
    rater = {"cluster": "rater"}
    run_coverage(rng, reps, "independent, 10 models 1000 votes", none, m=10, n=1000)
    for raters, per in ((10, 100), (20, 50)):
        for taste in (50.0, 100.0):
            base = f"rater taste {taste:.0f} Elo, {raters}x{per}"
            study = {"m": 6, "n": raters * per, "raters": raters, "taste": taste}
            run_coverage(rng, reps, base + ", cluster none", none, **study)
            run_coverage(rng, reps, base + ", cluster rater", rater, **study)
    prompt_study = {"m": 6, "n": 1200, "prompts": 30, "prompt_sd": 75.0}
    run_coverage(rng, reps, "prompt effects 75 Elo, 30 prompts, cluster none", none, **prompt_study)
    run_coverage(
        rng,
        reps,
        "prompt effects 75 Elo, 30 prompts, cluster prompt",
        {"cluster": "prompt"},
        **prompt_study,
    )
    both = {"m": 6, "n": 1200, "raters": 20, "taste": 75.0, "prompts": 30, "prompt_sd": 75.0}
    run_coverage(rng, reps, "raters 75 + prompts 75 Elo (20, 30), cluster none", none, **both)
    run_coverage(rng, reps, "raters 75 + prompts 75 Elo (20, 30), cluster both", {}, **both)
    run_coverage(
        rng, reps, "sparse: 20 models, 30% of pairs, 200 votes", none, m=20, n=200, sparse=0.3
    )
    if not CELLS:  # --cells filters the coverage and PPI cells; the others run without it
        run_ties(rng, reps, "half", "half")
        run_ties(rng, reps, "davidson", "half")
        run_ties(rng, reps, "davidson", "davidson")
        run_style(rng, reps)
        run_fwer(rng, reps, "FWER all equal, independent, 6 models 1000 votes", none, m=6, n=1000)
        fw = {"m": 6, "n": 1000, "raters": 10, "taste": 100.0}
        run_fwer(rng, reps, "FWER all equal, rater taste 100 Elo 10x100, cluster none", none, **fw)
        run_fwer(
            rng, reps, "FWER all equal, rater taste 100 Elo 10x100, cluster rater", rater, **fw
        )
        run_sequential(rng, reps)
        run_power(rng, reps)
    run_ppi_cells(rng, reps)


if __name__ == "__main__":
    main()
