"""A judge's verdicts plus the human votes as prediction-powered (PPI++) Bradley-Terry ratings.

Every pair with a judge verdict is a comparison; the pairs humans voted on carry one labelled
row per human vote (the judge's verdict repeated beside each), the others one unlabelled row.
The intervals are valid whatever the judge's quality, provided the pairs humans voted on are a
random subset of the judged pairs (the study's pair assignment draws them at random).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from evaluations.analysis.bradley_terry import ELO_SCALE
from evaluations.analysis.ppi import ppi_bradley_terry

SCORES = {"a": 1.0, "tie": 0.5, "b": 0.0}
Z95 = 1.959963984540054


def judge_ppi_ratings(
    *,
    combined: dict[int, str],
    pairs: dict[int, tuple[int, int, str]],
    humans: dict[int, Counter],
    labels: dict[int, str],
) -> dict[str, Any]:
    """PPI++ ratings (Elo scale) with 95% intervals, the tuning and the effective human votes."""
    candidates = sorted({pairs[p][0] for p in combined} | {pairs[p][1] for p in combined})
    code = {cid: k for k, cid in enumerate(candidates)}
    a, b, judge, human = [], [], [], []
    for pair_id, verdict in sorted(combined.items()):
        cand_a, cand_b, _ = pairs[pair_id]
        votes = humans.get(pair_id) or Counter({None: 1})
        for choice, count in votes.items():
            a += [code[cand_a]] * count
            b += [code[cand_b]] * count
            judge += [SCORES[verdict]] * count
            human += [SCORES[choice] if choice is not None else np.nan] * count
    try:
        fit = ppi_bradley_terry(
            np.asarray(a), np.asarray(b), np.asarray(judge), np.asarray(human), len(candidates)
        )
    except (ValueError, np.linalg.LinAlgError) as exc:
        return {"message": f"prediction-powered ratings not computed: {exc}"}
    se = np.sqrt(np.clip(np.diag(fit.cov), 0, None)) * ELO_SCALE
    se_h = np.sqrt(np.clip(np.diag(fit.human_only_cov), 0, None)) * ELO_SCALE
    ratings = fit.ratings
    order = np.argsort(-ratings)
    return {
        "method": "PPI++ (Angelopoulos, Duchi and Zrnic 2023): human votes plus the judge's "
        "verdicts on every pair, the judge's bias corrected on the pairs humans voted on",
        "tuning": fit.tuning,
        "human_votes": fit.human_votes,
        "judge_only_pairs": fit.judge_only_votes,
        "effective_human_votes": fit.effective_human_votes,
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
        "votes are treated as independent (not clustered by rater)",
    }
