"""Inter-rater agreement: percent agreement (MT-Bench), Cohen, Fleiss, Krippendorff.

Votes on the same unit (item + unordered model pair) are put in one orientation and labelled
0 = first model better, 1 = tie, 2 = second model better (the ordinal scale A < tie < B).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .distributions import norm_ppf, norm_sf

Z95 = float(norm_ppf(0.975))


def cohen_kappa(table: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """Cohen's (weighted) kappa of a k x k table of counts (rows rater 1, columns rater 2).

    `weights` are agreement weights (identity when None). Standard errors are the large-sample
    ones of Fleiss, Cohen and Everitt (1969): `se` for the interval kappa +/- 1.96 se, `se_h0`
    under no agreement beyond chance for z = kappa / se_h0 (two-sided p). Reproduces the SAS PROC
    FREQ printout (kappa 0.4842, ASE 0.1380, ASE under H0 0.1484, Z 3.2626) and R irr::kappa2.
    """
    table = np.asarray(table, dtype=np.float64)
    n = table.sum()
    k = table.shape[0]
    w = np.eye(k) if weights is None else np.asarray(weights, dtype=np.float64)
    p = table / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    po = float((w * p).sum())
    pe = float((w * np.outer(rows, cols)).sum())
    if pe >= 1:
        return {
            "kappa": float("nan"),
            "se": float("nan"),
            "se_h0": float("nan"),
            "z": float("nan"),
            "p_value": float("nan"),
            "ci_low": float("nan"),
            "ci_high": float("nan"),
            "n": n,
        }
    kappa = (po - pe) / (1 - pe)
    w_row = w @ cols  # wbar_i.
    w_col = rows @ w  # wbar_.j
    spread = w_row[:, None] + w_col[None, :]
    var = ((p * (w * (1 - pe) - spread * (1 - po)) ** 2).sum() - (po * pe - 2 * pe + po) ** 2) / (
        n * (1 - pe) ** 4
    )
    var0 = ((np.outer(rows, cols) * (w - spread) ** 2).sum() - pe**2) / (n * (1 - pe) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    se0 = float(np.sqrt(max(var0, 0.0)))
    z = kappa / se0 if se0 > 0 else float("nan")
    return {
        "kappa": float(kappa),
        "se": se,
        "ci_low": float(kappa - Z95 * se),
        "ci_high": float(kappa + Z95 * se),
        "se_h0": se0,
        "z": float(z),
        "p_value": float(2 * norm_sf(abs(z))) if se0 > 0 else float("nan"),
        "n": n,
    }


def fleiss_kappa(counts: np.ndarray) -> dict[str, Any]:
    """Fleiss' kappa from an items x categories table of rating counts.

    Items may have different numbers of ratings (items with fewer than two are dropped): each
    item's observed agreement is sum_c n_ic (n_ic - 1) / (n_i (n_i - 1)), chance agreement uses
    the pooled category shares. The standard error under H0 and z follow Fleiss, Nee and Landis
    (1979) (exact for a constant number of raters; with a variable number the mean is used).
    Reproduces the Wikipedia example (0.210) and Fleiss (1971) diagnoses (0.4302, z 17.65).
    """
    counts = np.asarray(counts, dtype=np.float64)
    n_i = counts.sum(axis=1)
    counts = counts[n_i >= 2]
    n_i = n_i[n_i >= 2]
    items = len(counts)
    if items == 0:
        return {"kappa": None, "items": 0, "message": "no item has two or more ratings"}
    p_i = ((counts * (counts - 1)).sum(axis=1)) / (n_i * (n_i - 1))
    p_bar = float(p_i.mean())
    p_cat = counts.sum(axis=0) / n_i.sum()
    p_e = float((p_cat**2).sum())
    pq = p_cat * (1 - p_cat)
    if p_e >= 1:
        return {
            "kappa": None,
            "items": items,
            "p_bar": p_bar,
            "p_e": p_e,
            "message": "every rating is in one category: kappa is undefined",
        }
    kappa = (p_bar - p_e) / (1 - p_e)
    n = float(n_i.mean())
    spq = pq.sum()
    var0 = 2 / (items * n * (n - 1)) * (spq**2 - (pq * (1 - 2 * p_cat)).sum()) / spq**2
    se0 = float(np.sqrt(var0))
    with np.errstate(divide="ignore", invalid="ignore"):
        per_cat = 1 - (
            (counts * (n_i[:, None] - counts) / (n_i[:, None] * (n_i[:, None] - 1))).sum(axis=0)
        ) / (items * pq)
    return {
        "kappa": float(kappa),
        "se_h0": se0,
        "z": float(kappa / se0),
        "p_value": float(2 * norm_sf(abs(kappa / se0))),
        "items": items,
        "p_bar": p_bar,
        "p_e": p_e,
        "category_kappas": [None if not np.isfinite(v) else float(v) for v in per_cat],
    }


def krippendorff_alpha(
    counts: np.ndarray, metric: str = "nominal", values: np.ndarray | None = None
) -> float | None:
    """Krippendorff's alpha from a units x values table of counts (missing data = fewer counts).

    Coincidence matrix o_ck = sum_u (n_uc n_uk - [c = k] n_uc) / (n_u - 1) over pairable units
    (n_u >= 2); alpha = 1 - (n - 1) sum o delta / sum n_c n_k delta. Metrics: nominal, ordinal
    (rank-sum delta on the value frequencies), interval, ratio (`values` are the numeric values of
    the columns, default 1..k). Reproduces Krippendorff (2011): 0.743 / 0.815 / 0.849 / 0.797.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n_u = counts.sum(axis=1)
    counts = counts[n_u >= 2]
    n_u = n_u[n_u >= 2]
    if len(counts) == 0:
        return None
    k = counts.shape[1]
    scaled = counts / (n_u - 1)[:, None]
    coincidence = scaled.T @ counts - np.diag(scaled.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    v = np.arange(1, k + 1, dtype=np.float64) if values is None else np.asarray(values, float)
    if metric == "nominal":
        delta = 1.0 - np.eye(k)
    elif metric == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(n_c)])
        lo = np.minimum.outer(np.arange(k), np.arange(k))
        hi = np.maximum.outer(np.arange(k), np.arange(k))
        delta = (cum[hi + 1] - cum[lo] - (n_c[:, None] + n_c[None, :]) / 2) ** 2
    elif metric == "interval":
        delta = np.subtract.outer(v, v) ** 2
    elif metric == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = np.nan_to_num((np.subtract.outer(v, v) / np.add.outer(v, v)) ** 2)
    else:
        raise ValueError(f"unknown metric {metric!r}")
    expected = (np.outer(n_c, n_c) * delta).sum()
    if expected == 0:
        return None
    return float(1 - (n - 1) * (coincidence * delta).sum() / expected)


def _pairs_within_units(unit_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs (i < j) of positions sharing a unit, for unit codes sorted ascending."""
    firsts: list[np.ndarray] = []
    seconds: list[np.ndarray] = []
    n = len(unit_sorted)
    offset = 1
    while offset < n:
        same = unit_sorted[offset:] == unit_sorted[:-offset]
        if not same.any():
            break
        pos = np.flatnonzero(same)
        firsts.append(pos)
        seconds.append(pos + offset)
        offset += 1
    if not firsts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(firsts), np.concatenate(seconds)


def agreement_block(
    unit: np.ndarray,
    rater: np.ndarray,
    label: np.ndarray,
    rater_names: list[str],
    *,
    min_shared: int = 10,
) -> dict[str, Any]:
    """Agreement over units judged by two or more raters (labels 0/1/2 = first/tie/second).

    One vote per (unit, rater) counts: repeats are dropped (the first is kept) and reported.
    Percent agreement is MT-Bench's: over all pairs of votes by different raters on the same unit,
    the share that agree, each vote pair weighing the same; "without ties" keeps the vote pairs
    where neither vote is a tie. Cohen's kappa (3 categories, Fleiss-Cohen-Everitt SE) for each
    rater pair sharing at least `min_shared` units; Fleiss' kappa with a variable number of raters
    per unit; Krippendorff's alpha, nominal and ordinal on first < tie < second.
    """
    unit = np.asarray(unit, dtype=np.int64)
    rater = np.asarray(rater, dtype=np.int64)
    label = np.asarray(label, dtype=np.int64)
    n_raters = max(len(rater_names), int(rater.max()) + 1 if len(rater) else 0)
    _, keep = np.unique(unit * n_raters + rater, return_index=True)
    repeats = len(unit) - len(keep)
    keep.sort()
    unit, rater, label = unit[keep], rater[keep], label[keep]
    units, inverse = np.unique(unit, return_inverse=True)
    counts = np.zeros((len(units), 3))
    np.add.at(counts, (inverse, label), 1)
    n_u = counts.sum(axis=1)
    multi = n_u >= 2
    pairs_all = float((n_u * (n_u - 1) / 2).sum())
    agree_all = float((counts * (counts - 1) / 2).sum())
    decisive = counts[:, 0] + counts[:, 2]
    pairs_nt = float((decisive * (decisive - 1) / 2).sum())
    agree_nt = float((counts[:, [0, 2]] * (counts[:, [0, 2]] - 1) / 2).sum())

    order = np.argsort(inverse, kind="stable")
    i, j = _pairs_within_units(inverse[order])
    i, j = order[i], order[j]
    r1, r2, l1, l2 = rater[i], rater[j], label[i], label[j]
    # Rater pairs in name order (codes follow the file's row order).
    name_rank = np.zeros(n_raters, dtype=np.int64)
    name_rank[: len(rater_names)] = np.argsort(np.argsort(np.asarray(rater_names, dtype=object)))
    swap = name_rank[r1] > name_rank[r2]
    r1, r2 = np.where(swap, r2, r1), np.where(swap, r1, r2)
    l1, l2 = np.where(swap, l2, l1), np.where(swap, l1, l2)
    pair_keys, pair_inv = np.unique(r1 * n_raters + r2, return_inverse=True)
    tables = np.zeros((len(pair_keys), 3, 3))
    np.add.at(tables, (pair_inv, l1, l2), 1)
    cohen = []
    for key, table in zip(pair_keys, tables, strict=True):
        shared = int(table.sum())
        if shared < min_shared:
            continue
        result = cohen_kappa(table)
        cohen.append(
            {
                "rater_1": rater_names[key // n_raters],
                "rater_2": rater_names[key % n_raters],
                "shared_items": shared,
                **{k: _finite(v) for k, v in result.items() if k != "n"},
            }
        )
    cohen.sort(key=lambda row: (row["rater_1"], row["rater_2"]))

    # Leave-one-out majority: the others' modal label, when unique and at least two others voted.
    others = counts[inverse] - np.eye(3)[label]
    top = others.max(axis=1)
    unique_top = (others == top[:, None]).sum(axis=1) == 1
    usable = (others.sum(axis=1) >= 2) & unique_top
    agrees = usable & (others.argmax(axis=1) == label)
    judged = np.bincount(rater[usable], minlength=n_raters)
    matched = np.bincount(rater[agrees], minlength=n_raters)
    loo = [
        {
            "rater": rater_names[r],
            "votes": int(judged[r]),
            "agreement": float(matched[r] / judged[r]),
        }
        for r in sorted(np.flatnonzero(judged), key=lambda r: rater_names[r])
    ]

    def share(agree: float, total: float) -> float | None:
        return agree / total if total else None

    multi_counts = counts[multi]
    fleiss = fleiss_kappa(multi_counts)
    return {
        "units": int(len(units)),
        "units_with_two_or_more_raters": int(multi.sum()),
        "repeat_votes_dropped": int(repeats),
        "percent_agreement": {
            "with_ties": share(agree_all, pairs_all),
            "vote_pairs_with_ties": int(pairs_all),
            "without_ties": share(agree_nt, pairs_nt),
            "vote_pairs_without_ties": int(pairs_nt),
        },
        "cohen_kappa": cohen,
        "cohen_kappa_min_shared_items": min_shared,
        "fleiss_kappa": {
            k: _finite(v) if not isinstance(v, list) else v for k, v in fleiss.items()
        },
        "krippendorff_alpha": {
            "nominal": krippendorff_alpha(multi_counts, "nominal"),
            "ordinal": krippendorff_alpha(multi_counts, "ordinal"),
        },
        "leave_one_out_majority": loo,
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
