"""Statistics over pairwise votes: numpy/scipy only, no Django.

Entry point: `analyze(VoteArrays, ...) -> dict` (the document `manage.py analyze` prints).
Building blocks for other callers (e.g. adaptive pair assignment): `pair_counts`,
`fit_bradley_terry`, `bootstrap_bradley_terry`, `fit_davidson`, the agreement statistics.
"""

from .agreement import agreement_block, cohen_kappa, fleiss_kappa, krippendorff_alpha
from .bradley_terry import (
    ELO_SCALE,
    BTFit,
    bootstrap_bradley_terry,
    comparison_structure,
    fit_bradley_terry,
    fit_bradley_terry_covariates,
    refit_bradley_terry,
)
from .davidson import DavidsonFit, fit_davidson
from .report import analyze
from .votes import (
    A_WINS,
    B_WINS,
    BOTH_BAD,
    TIE,
    PairCounts,
    VoteArrays,
    VoteDataError,
    pair_counts,
    votes_read,
)

__all__ = [
    "A_WINS",
    "B_WINS",
    "BOTH_BAD",
    "ELO_SCALE",
    "TIE",
    "BTFit",
    "DavidsonFit",
    "PairCounts",
    "VoteArrays",
    "VoteDataError",
    "agreement_block",
    "analyze",
    "bootstrap_bradley_terry",
    "cohen_kappa",
    "comparison_structure",
    "fit_bradley_terry",
    "fit_bradley_terry_covariates",
    "fit_davidson",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pair_counts",
    "refit_bradley_terry",
    "votes_read",
]
