"""Comparing two studies' rankings on the models they share, Holm-adjusted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from evaluations.analysis import ELO_SCALE, comparison_structure, fit_bradley_terry, pair_counts
from evaluations.analysis.bradley_terry import DEGENERATE_PRIOR_PRECISION
from evaluations.models import Candidate, Prompt, Study

Z95 = float(stats.norm.ppf(0.975))


class CompareError(Exception):
    """Two studies cannot be compared (no shared prompts or too few shared models)."""


# -- comparing ------------------------------------------------------------------------------


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment; None entries are skipped and stay None."""
    indexed = sorted((p, k) for k, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, k) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[k] = running
    return adjusted


@dataclass
class _Fit:
    models: list[str]
    theta: np.ndarray
    cov: np.ndarray
    warnings: list[str]


def _study_fit(study: Study) -> _Fit:
    """Bradley-Terry (ties as half wins, both-bad as a tie) over the study's non-gold votes."""
    from research.results.aggregation import study_vote_arrays_aggregated

    votes = study_vote_arrays_aggregated(study=study, excluded_raters=[])
    votes = votes.subset(~votes.is_gold)
    warnings: list[str] = []
    m = len(votes.models)
    if len(votes) == 0 or m < 2:
        return _Fit([], np.zeros(0), np.zeros((0, 0)), [f"{study.slug}: no votes to rank"])
    pc = pair_counts(votes.model_a, votes.model_b, votes.outcome, m)
    k = len(pc.first)
    cell_a, cell_b = np.repeat(pc.first, 4), np.repeat(pc.second, 4)
    cell_y, cell_n = np.tile([1.0, 0.0, 0.5, 0.5], k), pc.counts.ravel()
    used = cell_n > 0
    cell_a, cell_b, cell_y, cell_n = cell_a[used], cell_b[used], cell_y[used], cell_n[used]
    structure = comparison_structure(cell_a, cell_b, cell_y, cell_n, m)
    if structure.n_components != 1 or (structure.component < 0).any():
        raise CompareError(
            f"{study.slug}: the comparison graph is not connected, ratings are not comparable"
        )
    prior = 0.0
    if not structure.strongly_connected[0]:
        prior = DEGENERATE_PRIOR_PRECISION
        warnings.append(
            f"{study.slug}: some model never wins or never loses; ratings are MAP estimates "
            "with a N(0, 400 Elo) prior"
        )
    fit = fit_bradley_terry(cell_a, cell_b, cell_y, cell_n, m, prior_precision=prior)
    return _Fit(list(votes.models), fit.theta, fit.cov, warnings)


def _relative(fit: _Fit, reference: list[str]) -> dict[str, tuple[float, float]]:
    """Each model's rating minus the mean rating of ``reference``, in Elo, with its SE."""
    index = {name: k for k, name in enumerate(fit.models)}
    base = np.zeros(len(fit.models))
    for name in reference:
        base[index[name]] += 1 / len(reference)
    out = {}
    for name, k in index.items():
        c = -base.copy()
        c[k] += 1
        variance = float(c @ fit.cov @ c)
        out[name] = (float(ELO_SCALE * c @ fit.theta), float(ELO_SCALE * np.sqrt(max(variance, 0))))
    return out


def studies_compare(*, study_a: Study, study_b: Study, anchor: str | None = None) -> dict:
    """Ratings of two studies side by side, and which models' ratings differ significantly.

    Ratings are Bradley-Terry (ties as half wins) with sandwich SEs, as in the ranking. Two
    studies are centred on different model sets, so both are put on one reference: the mean
    of the models rated in both (or ``anchor``), and reported as 1000 + rating relative to it.
    For a model in both, the difference (b - a) is tested with z = d / sqrt(se_a^2 + se_b^2)
    (the studies' votes are independent samples), two-sided, Holm-corrected over the models.
    """
    prompts_a = set(Prompt.objects.filter(study=study_a).values_list("external_id", "text"))
    prompts_b = set(Prompt.objects.filter(study=study_b).values_list("external_id", "text"))
    shared_prompts = prompts_a & prompts_b
    if not shared_prompts:
        raise CompareError("the two studies share no prompt (same id and text)")
    warnings = []
    if prompts_a != prompts_b:
        warnings.append(
            f"the studies' prompts differ: {len(shared_prompts)} shared, "
            f"{len(prompts_a - prompts_b)} only in {study_a.slug}, "
            f"{len(prompts_b - prompts_a)} only in {study_b.slug}"
        )
    fit_a, fit_b = _study_fit(study_a), _study_fit(study_b)
    warnings += fit_a.warnings + fit_b.warnings
    common = [name for name in fit_a.models if name in set(fit_b.models)]
    if anchor is not None:
        if anchor not in common:
            raise CompareError(f"anchor {anchor!r} is not rated in both studies")
        reference = [anchor]
    else:
        if len(common) < 2:
            raise CompareError(
                "fewer than two models are rated in both studies: their ratings have no "
                "common reference"
            )
        reference = common
    rel_a, rel_b = _relative(fit_a, reference), _relative(fit_b, reference)
    versions_a = dict(Candidate.objects.filter(study=study_a).values_list("label", "version"))
    versions_b = dict(Candidate.objects.filter(study=study_b).values_list("label", "version"))

    def side(rel: dict, name: str) -> dict[str, Any] | None:
        if name not in rel:
            return None
        rating, se = rel[name]
        return {"rating": 1000 + rating, "se": se, "ci_low": 1000 + rating - Z95 * se,
                "ci_high": 1000 + rating + Z95 * se}  # fmt: skip

    names = list(dict.fromkeys([*fit_a.models, *fit_b.models]))
    rows = []
    p_values: list[float | None] = []
    for name in names:
        row: dict[str, Any] = {
            "model": name,
            "version_a": versions_a.get(name),
            "version_b": versions_b.get(name),
            "a": side(rel_a, name),
            "b": side(rel_b, name),
            "difference": None,
            "difference_se": None,
            "z": None,
            "p_value": None,
        }
        if name in rel_a and name in rel_b:
            difference = rel_b[name][0] - rel_a[name][0]
            se = float(np.hypot(rel_a[name][1], rel_b[name][1]))
            row["difference"], row["difference_se"] = difference, se
            if se > 0:
                row["z"] = difference / se
                row["p_value"] = float(2 * stats.norm.sf(abs(row["z"])))
        p_values.append(row["p_value"])
        rows.append(row)
    for row, adjusted in zip(rows, holm(p_values), strict=True):
        row["p_value_holm"] = adjusted
        row["significant"] = adjusted is not None and adjusted < 0.05
    rows.sort(key=lambda r: -(r["b"] or r["a"])["rating"])
    return {
        "study_a": {"id": study_a.pk, "slug": study_a.slug},
        "study_b": {"id": study_b.pk, "slug": study_b.slug},
        "shared_prompts": len(shared_prompts),
        "reference": (
            f"anchored: relative to {anchor} at 1000"
            if anchor
            else "centred: relative to the average of the models rated in both studies (1000)"
        ),
        "test": "z-test on sandwich SEs of the two independent fits, two-sided, Holm-corrected",
        "models": rows,
        "warnings": warnings,
    }
