"""The pairwise block of the report: each pair of models' rating difference, win probability,
interval, p-values (fixed-sample and anytime-valid, with Holm's adjustment) and confidence
sequence, and the votes needed to separate neighbouring models."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from .bradley_terry import ELO_SCALE
from .distributions import norm_ppf, norm_sf, t_sf
from .power import DEFAULT_POWER, votes_needed
from .sequential import anytime_p_value, confidence_sequence_halfwidth

Z95 = float(norm_ppf(0.975))


def _pairwise(
    names: list[str],
    ratings: np.ndarray,
    cov_r: np.ndarray,
    ca: np.ndarray,
    cb: np.ndarray,
    cn: np.ndarray,
    boot: np.ndarray | None,
    *,
    crit: float = Z95,
    df: int | None = None,
    power: float = DEFAULT_POWER,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    m = len(names)
    votes = np.zeros((m, m))
    np.add.at(votes, (ca, cb), cn)
    votes = votes + votes.T
    total = float(cn.sum())
    i, j = np.triu_indices(m, k=1)
    diff = ratings[i] - ratings[j]
    var = cov_r[i, i] + cov_r[j, j] - 2 * cov_r[i, j]
    se = np.sqrt(np.clip(var, 0, None))
    if boot is not None:
        d_boot = boot[:, i] - boot[:, j]
        d_low, d_high = np.percentile(d_boot, [2.5, 97.5], axis=0)
    else:
        d_low, d_high = diff - crit * se, diff + crit * se
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / se
    p = 2 * t_sf(np.abs(z), df) if df else 2 * norm_sf(np.abs(z))
    p_anytime = anytime_p_value(diff, se)
    cs = confidence_sequence_halfwidth(se)

    def prob(d: np.ndarray) -> np.ndarray:
        return expit(d / ELO_SCALE)

    pairs = [
        {
            "model_a": names[a],
            "model_b": names[b],
            "votes": int(votes[a, b]),
            "rating_difference": float(diff[k]),
            "se": float(se[k]),
            "win_probability": float(prob(diff[k])),
            "ci_low": float(prob(d_low[k])),
            "ci_high": float(prob(d_high[k])),
            "p_value": float(p[k]) if se[k] > 0 else None,
            "p_value_anytime": float(p_anytime[k]) if se[k] > 0 else None,
            "cs_low": float(prob(diff[k] - cs[k])) if se[k] > 0 else None,
            "cs_high": float(prob(diff[k] + cs[k])) if se[k] > 0 else None,
        }
        for k, (a, b) in enumerate(zip(i, j, strict=True))
    ]
    order = np.argsort(-ratings)
    needed = []
    for upper, lower in zip(order[:-1], order[1:], strict=True):
        d = ratings[upper] - ratings[lower]
        s = float(
            np.sqrt(max(cov_r[upper, upper] + cov_r[lower, lower] - 2 * cov_r[upper, lower], 0))
        )
        entry: dict[str, Any] = {
            "higher": names[upper],
            "lower": names[lower],
            "rating_difference": float(d),
            "z": d / s if s else None,
            "power": power,
        }
        entry.update(votes_needed(d, s, total, power=power, crit=crit))
        needed.append(entry)
    return pairs, needed


def _holm(pairs: list[dict[str, Any]]) -> None:
    """Holm's step-down adjustment over all model pairs, in place (`p_value_holm`)."""
    indices = [k for k, p in enumerate(pairs) if p["p_value"] is not None]
    values = np.array([pairs[k]["p_value"] for k in indices])
    n = len(values)
    order = np.argsort(values)
    adjusted = np.empty(n)
    running = 0.0
    for rank, k in enumerate(order):
        running = max(running, min(1.0, (n - rank) * values[k]))
        adjusted[k] = running
    for k, value in zip(indices, adjusted, strict=True):
        pairs[k]["p_value_holm"] = float(value)
    for p in pairs:
        p.setdefault("p_value_holm", None)
    # Holm over the anytime p-values: each is valid at any stopping time, so is the adjustment.
    indices = [k for k, p in enumerate(pairs) if p.get("p_value_anytime") is not None]
    values = np.array([pairs[k]["p_value_anytime"] for k in indices])
    running = 0.0
    for rank, k in enumerate(np.argsort(values)):
        running = max(running, min(1.0, (len(values) - rank) * values[k]))
        pairs[indices[k]]["p_value_anytime_holm"] = float(running)
    for p in pairs:
        p.setdefault("p_value_anytime_holm", None)
