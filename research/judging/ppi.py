"""LLM judges' scores plus the human votes as prediction-powered (PPI++) Bradley-Terry ratings.

A judge's score for a pair is model_a's mean score (a 1, tie 1/2, b 0) over the presentation
orders it gave a verdict in: every pair is judged in both orders, so the score is usually the
average of two verdicts (1, 3/4, 1/2, 1/4 or 0). The average keeps what MT-Bench's combined
verdict throws away (one order "a", the other "tie" is 3/4, not a tie), and two verdicts whose
errors are not the same carry more information about the humans' vote than one: at 80%
agreement per call, one verdict narrows the intervals by at most 20%, two with independent
errors by up to 31% (evaluations/analysis/ppi.py). Several judges (or one judge model entered
twice, as several samples) enter as one score column each, each with its own power-tuning
weight, so a useless judge gets weight 0 and cannot widen the intervals.

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
    rows = JudgeVote.objects.filter(judge__in=judges, status=JudgeVote.Status.DONE).values_list(
        "judge_id", "pair_id", "order", "verdict"
    )
    for judge_id, pair_id, order, verdict in rows.iterator(chunk_size=5000):
        verdicts[judge_id][pair_id][order] = verdict
    return {judge.pk: judge_pair_scores(verdicts[judge.pk]) for judge in judges}


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
    a, b, judge, human = [], [], [], []
    for pair_id in sorted(shared):
        cand_a, cand_b, _ = pairs[pair_id]
        row_scores = [s[pair_id] for s in scores]
        votes = humans.get(pair_id) or Counter({None: 1})
        for choice, count in votes.items():
            a += [code[cand_a]] * count
            b += [code[cand_b]] * count
            judge += [row_scores] * count
            human += [SCORES[choice] if choice is not None else np.nan] * count
    try:
        fit = ppi_bradley_terry(
            np.asarray(a, dtype=np.int64),
            np.asarray(b, dtype=np.int64),
            np.asarray(judge, dtype=np.float64).reshape(len(a), len(scores)),
            np.asarray(human, dtype=np.float64),
            len(candidates),
        )
    except (ValueError, np.linalg.LinAlgError) as exc:
        return {"message": f"prediction-powered ratings not computed: {exc}"}
    se = np.sqrt(np.clip(np.diag(fit.cov), 0, None)) * ELO_SCALE
    se_h = np.sqrt(np.clip(np.diag(fit.human_only_cov), 0, None)) * ELO_SCALE
    ratings = fit.ratings
    order = np.argsort(-ratings)
    return {
        "method": "PPI++ (Angelopoulos, Duchi and Zrnic 2023): human votes plus the judges' "
        "scores on every pair (each judge's mean over both presentation orders), the judges' "
        "bias corrected on the pairs humans voted on",
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
