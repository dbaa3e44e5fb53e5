"""Simulation check of the rater quality flags (issue 20); not a timed test.

    .venv/bin/python benchmarks/rater_flags_simulation.py [--reps 2000] [--votes 300] [--seed 1]

Straight-lining (raters/straight_lining.py): each simulated rater casts `votes` decisive votes
whose side is left with probability p_left, independently (sides are shuffled per assignment,
so a reader's preferred answer is on the left half the time: p_left 0.5 is an honest rater,
0.55-0.6 an honest one with a position preference, 0.9-1.0 a straight-liner). After every vote
the rule is applied to the latest 100, as the voting statement does. Printed per p_left: the
share of raters flagged after their last vote (what the researcher sees; at most ALPHA = 0.001
for p_left 0.5), the share ever flagged at some vote (the flag clears itself when the window
moves on), and the median number of votes before the first flag. The exact binomial p-values
are checked against scipy.stats.binomtest over every k <= n <= 100 in the same run.

Too fast (raters/reading_time.py, raters/speed.py, with the defaults: both answers' words at
12 words a second, at least 2 s): each rater reads at a personal median speed (words a second)
and each vote's speed varies around it, log-normally with sigma 0.5 (assumed: the spread of one
reader's times between texts); answers have 50-400 words each (uniform). The share flagged
after `votes` votes, by the real quality_reasons on the latest 100. Average silent reading of
English non-fiction is about 4 words a second (238 a minute, Brysbaert 2019); a rater who skims
at 8 is rarely flagged, one at 12 or more (not reading both answers) mostly is.
Monte Carlo errors: sqrt(p (1 - p) / reps).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from evaluations.models import Study  # noqa: E402
from raters.speed import SPEED_RECENT_VOTES, RecentVote, quality_reasons  # noqa: E402
from raters.straight_lining import (  # noqa: E402
    ALPHA,
    SideCounts,
    binomial_two_sided_p,
    sides_straight_lined,
)


def check_against_scipy() -> float:
    worst = 0.0
    for n in range(1, 101):
        for k in range(n + 1):
            worst = max(worst, abs(binomial_two_sided_p(k, n) - binomtest(k, n, 0.5).pvalue))
    return worst


def straight_lining_cell(rng, p_left: float, reps: int, votes: int) -> tuple[float, float, float]:
    flagged_end = ever = 0
    first_flags = []
    for _ in range(reps):
        lefts = rng.random(votes) < p_left
        csum = np.concatenate([[0], np.cumsum(lefts)])
        first = None
        flag = False
        for i in range(1, votes + 1):
            lo = max(0, i - SPEED_RECENT_VOTES)
            left = int(csum[i] - csum[lo])
            flag = sides_straight_lined(SideCounts(left=left, right=i - lo - left))
            if flag and first is None:
                first = i
        flagged_end += flag
        if first is not None:
            ever += 1
            first_flags.append(first)
    median_first = float(np.median(first_flags)) if first_flags else float("nan")
    return flagged_end / reps, ever / reps, median_first


def speed_cell(rng, median_wps: float, reps: int, votes: int) -> float:
    study = Study(min_seconds_per_vote=None)
    flagged = 0
    for _ in range(reps):
        words = rng.integers(50, 401, size=(votes, 2)).sum(axis=1)
        speed = median_wps * np.exp(rng.normal(0.0, 0.5, size=votes))
        times = (words / speed * 1000).astype(int)
        recent = [
            RecentVote(time_ms=int(t), answer_words=int(w), picked_left=bool(i % 2))
            for i, (t, w) in enumerate(zip(times[::-1], words[::-1], strict=True))
        ]
        flagged += any(
            r.startswith("too fast") for r in quality_reasons(study=study, recent=recent)
        )
    return flagged / reps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--votes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.process_time()
    print(
        f"exact binomial p-values vs scipy.stats.binomtest, n <= 100: max |diff| "
        f"{check_against_scipy():.2e}"
    )
    print(f"\nstraight-lining, {args.reps} raters x {args.votes} decisive votes, alpha {ALPHA:g}")
    print("p_left  flagged_at_end (mc)   ever_flagged  median_votes_to_first_flag")
    for p_left in (0.5, 0.55, 0.6, 0.7, 0.9, 1.0):
        end, ever, first = straight_lining_cell(rng, p_left, args.reps, args.votes)
        mc = (end * (1 - end) / args.reps) ** 0.5
        print(f"{p_left:<7} {end:.4f} ({mc:.4f})       {ever:.4f}        {first:g}")
    speed_reps = max(200, args.reps // 4)
    print(
        f"\ntoo fast, {speed_reps} raters x {args.votes} decisive votes, "
        "answers 2 x U(50, 400) words, per-vote log-normal sigma 0.5"
    )
    print("median words/s  flagged (mc)")
    for wps in (4, 6, 8, 10, 12, 16, 30):
        share = speed_cell(rng, wps, speed_reps, args.votes)
        print(f"{wps:<15} {share:.4f} ({(share * (1 - share) / speed_reps) ** 0.5:.4f})")
    print(f"\nCPU {time.process_time() - started:.1f} s")


if __name__ == "__main__":
    main()
