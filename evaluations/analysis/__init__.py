"""Statistics over pairwise votes: numpy/scipy only, no Django.

Entry point: `analyze(VoteArrays, ...) -> dict` (the document `manage.py analyze` prints).
Building blocks for other callers (e.g. adaptive pair assignment): `pair_counts`,
`fit_bradley_terry`, `bootstrap_bradley_terry`, `fit_davidson`, the agreement statistics.
"""

import importlib
from typing import Any

# Each name is imported from its module on first use (PEP 562): scipy costs about a second of
# CPU, and the web process, the admin and `manage.py help` import this package without
# computing anything.
_MODULE_OF = {
    **dict.fromkeys(
        ["agreement_block", "cohen_kappa", "fleiss_kappa", "krippendorff_alpha"], "agreement"
    ),
    **dict.fromkeys(
        [
            "ELO_SCALE",
            "BTFit",
            "comparison_structure",
            "fit_bradley_terry",
        ],
        "bradley_terry",
    ),
    **dict.fromkeys(
        ["bootstrap_bradley_terry", "refit_bradley_terry"],
        "bradley_terry_bootstrap",
    ),
    "fit_bradley_terry_covariates": "bradley_terry_covariates",
    **dict.fromkeys(["DavidsonFit", "fit_davidson"], "davidson"),
    "analyze": "report",
    **dict.fromkeys(
        [
            "A_WINS",
            "B_WINS",
            "BOTH_BAD",
            "TIE",
            "PairCounts",
            "VoteArrays",
            "VoteDataError",
            "pair_counts",
            "votes_read",
        ],
        "votes",
    ),
}


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])


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
