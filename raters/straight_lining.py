"""Straight-lining: a rater who picks the same side (left or right, as shown) nearly always.

Sides are shuffled per assignment, so for a rater who reads, the side of the answer they prefer
is a fair coin whatever the models' quality; picking one side k times out of n decisive votes
is tested with the exact two-sided binomial test against p = 1/2 (the tail doubled, as
scipy.stats.binomtest does for p = 1/2). The flag is recomputed from the rater's latest decisive
votes after each one, so at any moment an honest rater with no side preference is flagged with
probability at most ALPHA (repeated looks do not add up: the flag is the current window's test,
not "ever flagged"); a rater with a real but mild position preference (55% left) is flagged
rarely too (benchmarks/straight_lining_simulation.py prints both rates by simulation).
"""

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from math import comb

ALPHA = 0.001
MIN_VOTES = 10


@lru_cache(maxsize=512)
def binomial_two_sided_p(k: int, n: int) -> float:
    """Exact two-sided p-value of k successes in n trials under p = 1/2."""
    if n == 0:
        return 1.0
    extreme = max(k, n - k)
    tail = Fraction(sum(comb(n, i) for i in range(extreme, n + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))


@dataclass(frozen=True)
class SideCounts:
    left: int
    right: int

    @property
    def votes(self) -> int:
        return self.left + self.right

    @property
    def p_value(self) -> float:
        return binomial_two_sided_p(self.left, self.votes)


def sides_straight_lined(counts: SideCounts) -> bool:
    return counts.votes >= MIN_VOTES and counts.p_value < ALPHA


def straight_lining_reason(counts: SideCounts) -> str:
    side, k = ("left", counts.left) if counts.left >= counts.right else ("right", counts.right)
    return (
        f"straight-lining: {k} of {counts.votes} decisive votes for the {side} answer "
        f"(binomial p = {counts.p_value:.2g}, flagged below {ALPHA:g})"
    )
