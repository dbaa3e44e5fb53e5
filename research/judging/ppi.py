"""LLM judges' scores plus the human votes as prediction-powered (PPI++) Bradley-Terry ratings.

A judge's score for a pair is model_a's score from its calls in both presentation orders. Where
the provider returned the verdict token's log-probabilities (research/judging/verdicts.py,
`verdict_probability`), each order gives the judge's probability for model_a (a 1, tie 1/2,
b 0 under its own distribution over the verdict), and the orders are combined by averaging
their log-odds. Otherwise the score is the mean verdict over the orders (1, 3/4, 1/2, 1/4 or
0: one order "a", the other "tie" is 3/4, which MT-Bench's combined verdict throws away).
The score is then recalibrated on the pairs humans voted on by cross-fitting
(evaluations/analysis/ppi_crossfit.py), so that it predicts the human vote as well as it can,
before PPI++. A probability carries more about the human vote than the verdict it implies:
at 80% agreement per call with the two orders' errors independent, intervals 37% narrower
than humans alone against 26% from the verdicts (benchmarks/ppi_simulation.py, where the
design and the weaker cases are stated). Several judges (or one judge model entered twice, as
several samples) enter as one score column each, each recalibrated and with its own
power-tuning weight, so a useless judge gets weight 0 and cannot widen the intervals.

Every pair with a score from every judge used is a comparison; the pairs humans voted on carry
one labelled row per human vote (the scores repeated beside each), the others one unlabelled
row. The intervals are valid whatever the judges' quality, provided the pairs humans voted on
are a random subset of the judged pairs (the study's pair assignment does not look at the
judges' verdicts) and the votes are independent (not clustered by rater or prompt).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluations.analysis.bradley_terry import ELO_SCALE
from evaluations.analysis.ppi import ppi_bradley_terry
from evaluations.analysis.ppi_crossfit import judge_scores_crossfit

if TYPE_CHECKING:
    from evaluations.models import Judge

SCORES = {"a": 1.0, "tie": 0.5, "b": 0.0}
# Log-odds of 0.9999: a log-probability of 0 (the alternatives below float precision or not
# among the top ones returned) is strong evidence, not infinite evidence.
LOGIT_CLIP = 9.21
Z95 = 1.959963984540054


def judge_pair_score(
    verdicts: Mapping[str, str], probabilities: Mapping[str, float | None] | None = None
) -> float | None:
    """model_a's score for a pair from the judge's calls ({order: verdict}, and {order:
    model_a's score from the verdict token's log-probabilities} where the provider gave them);
    None when no order has a usable verdict (pending, failed or unparseable).

    When every order with a verdict has a probability, the orders are combined by averaging
    their log-odds (each clipped to +-LOGIT_CLIP): two calls are two pieces of evidence, and
    evidence adds on the log-odds scale. Otherwise the score is the mean verdict score."""
    usable = [order for order, v in verdicts.items() if v in SCORES]
    if not usable:
        return None
    probs = [(probabilities or {}).get(order) for order in usable]
    if all(p is not None for p in probs):
        mean = sum(_log_odds(p) for p in probs) / len(probs)
        return 1.0 / (1.0 + math.exp(-mean))
    return sum(SCORES[verdicts[order]] for order in usable) / len(usable)


def _log_odds(p: float) -> float:
    if p <= 0.0:
        return -LOGIT_CLIP
    if p >= 1.0:
        return LOGIT_CLIP
    return max(-LOGIT_CLIP, min(LOGIT_CLIP, math.log(p / (1.0 - p))))


def judge_pair_scores(
    verdicts: Mapping[int, Mapping[str, str]],
    probabilities: Mapping[int, Mapping[str, float | None]] | None = None,
) -> dict[int, float]:
    """{pair id: judge_pair_score} for one judge's {pair id: {order: verdict}} (and {pair id:
    {order: probability}}), pairs without a usable verdict left out."""
    probabilities = probabilities or {}
    scores = {
        pair_id: judge_pair_score(v, probabilities.get(pair_id)) for pair_id, v in verdicts.items()
    }
    return {pair_id: s for pair_id, s in scores.items() if s is not None}


def judges_pair_scores(*, judges: Sequence[Judge]) -> dict[int, dict[int, float]]:
    """{judge id: {pair id: judge_pair_score}} from the judges' finished calls."""
    # Imported here so that the simulation benchmark can score verdicts without Django.
    from evaluations.models import JudgeVote

    verdicts: dict[int, dict[int, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    probabilities: dict[int, dict[int, dict[str, float | None]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    rows = JudgeVote.objects.filter(judge__in=judges, status=JudgeVote.Status.DONE).values_list(
        "judge_id", "pair_id", "order", "verdict", "logprob_score"
    )
    for judge_id, pair_id, order, verdict, p in rows.iterator(chunk_size=5000):
        verdicts[judge_id][pair_id][order] = verdict
        probabilities[judge_id][pair_id][order] = p
    return {
        judge.pk: judge_pair_scores(verdicts[judge.pk], probabilities[judge.pk]) for judge in judges
    }


def judge_ppi_ratings(
    *,
    scores: Sequence[Mapping[int, float]],
    judge_names: Sequence[str],
    pairs: dict[int, tuple[int, int, str]],
    humans: dict[int, Counter],
    labels: dict[int, str],
) -> dict[str, Any]:
    """PPI++ ratings (Elo scale) with 95% intervals from one or more judges' pair scores, the
    weight each judge got and the effective human votes. Only pairs every judge scored count."""
    shared = set(pairs).intersection(*[set(s) for s in scores]) if scores else set()
    candidates = sorted({pairs[p][0] for p in shared} | {pairs[p][1] for p in shared})
    code = {cid: k for k, cid in enumerate(candidates)}
    a, b, judge, human, group = [], [], [], [], []
    for pair_id in sorted(shared):
        cand_a, cand_b, _ = pairs[pair_id]
        row_scores = [s[pair_id] for s in scores]
        votes = humans.get(pair_id) or Counter({None: 1})
        for choice, count in votes.items():
            a += [code[cand_a]] * count
            b += [code[cand_b]] * count
            judge += [row_scores] * count
            human += [SCORES[choice] if choice is not None else np.nan] * count
            group += [pair_id] * count
    aa, bb = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    hh = np.asarray(human, dtype=np.float64)
    try:
        recalibrated = judge_scores_crossfit(
            aa,
            bb,
            np.asarray(judge, dtype=np.float64).reshape(len(a), len(scores)),
            hh,
            len(candidates),
            groups=np.asarray(group, dtype=np.int64),
        )
        fit = ppi_bradley_terry(aa, bb, recalibrated, hh, len(candidates))
    except (ValueError, np.linalg.LinAlgError) as exc:
        return {"message": f"prediction-powered ratings not computed: {exc}"}
    se = np.sqrt(np.clip(np.diag(fit.cov), 0, None)) * ELO_SCALE
    se_h = np.sqrt(np.clip(np.diag(fit.human_only_cov), 0, None)) * ELO_SCALE
    ratings = fit.ratings
    order = np.argsort(-ratings)
    return {
        "method": "PPI++ (Angelopoulos, Duchi and Zrnic 2023): human votes plus the judges' "
        "scores on every pair (each judge's probability for its verdict from log-probabilities, "
        "or its mean verdict, over both presentation orders), each judge's score recalibrated "
        "to predict the human vote by cross-fitting on the pairs humans voted on (Zrnic and "
        "Candes 2024; 10 folds by pair), the judges' bias corrected on those pairs",
        "tuning": fit.tuning,
        "judge_weights": dict(zip(judge_names, fit.judge_weights, strict=True)),
        "human_votes": fit.human_votes,
        "judge_only_pairs": fit.judge_only_votes,
        "effective_human_votes": fit.effective_human_votes,
        "width_ratio": float(np.mean(se) / np.mean(se_h)) if np.mean(se_h) > 0 else None,
        "models": [
            {
                "model": labels[candidates[i]],
                "rating": ratings[i],
                "ci_low": ratings[i] - Z95 * se[i],
                "ci_high": ratings[i] + Z95 * se[i],
                "se": se[i],
                "human_only_se": se_h[i],
            }
            for i in order
        ],
        "assumption": "the pairs humans voted on are a random subset of the judged pairs; "
        "votes are treated as independent (not clustered by rater or prompt), so the intervals "
        "are about these raters on these prompts; ratings are centred (average 1000), a tie "
        "counts as half a win",
    }
