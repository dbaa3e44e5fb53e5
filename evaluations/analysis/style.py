"""Style control (Chatbot Arena's): Bradley-Terry with the answers' style as covariates.

logit P(a preferred) = theta_a - theta_b + sum_f beta_f z_f, where z_f is the normalised
difference (f_a - f_b) / (f_a + f_b) of feature f (0 when both are 0), divided by its standard
deviation over the votes. The features are the answers' length in characters and their Markdown
density (headers, list items, bold spans), plus any numeric feature the researcher names. theta
is then the rating with style held equal; beta_f is the log-odds change per standard deviation
of the feature difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .bradley_terry import ELO_SCALE
from .bradley_terry_covariates import fit_bradley_terry_covariates
from .clustered import clustered_covariance
from .distributions import norm_ppf, norm_sf, t_ppf, t_sf
from .style_features import STYLE_FEATURES, text_style_features  # noqa: F401 - re-exported

# Above this share of a style covariate's variance explained by the model identities, the
# ratings and the style coefficients are not separately identifiable (intervals explode).
MAX_EXPLAINED = 0.9


def style_covariates(
    features: dict[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, list[str], list[str]]:
    """(votes x K) standardised normalised differences, the names used, and notes on those
    dropped (no variation)."""
    columns, names, notes = [], [], []
    for name, (fa, fb) in features.items():
        total = fa + fb
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = np.where(total > 0, (fa - fb) / total, 0.0)
        sd = float(diff.std())
        if not sd > 0:
            notes.append(f"style feature {name} does not vary between the answers: left out")
            continue
        columns.append(diff / sd)
        names.append(name)
    matrix = (
        np.column_stack(columns)
        if columns
        else np.zeros((len(next(iter(features.values()))[0]) if features else 0, 0))
    )
    return matrix, names, notes


def _explained_by_models(a: np.ndarray, b: np.ndarray, z: np.ndarray, m: int) -> np.ndarray:
    """R^2 of each covariate regressed on the model indicators e_a - e_b (normal equations)."""
    pair = np.bincount(a * m + b, minlength=m * m).reshape(m, m).astype(np.float64)
    gram = np.diag(pair.sum(axis=0) + pair.sum(axis=1)) - pair - pair.T
    cross = np.stack(
        [
            np.bincount(a, z[:, c], minlength=m) - np.bincount(b, z[:, c], minlength=m)
            for c in range(z.shape[1])
        ],
        axis=1,
    )
    fitted = np.einsum("mk,mk->k", cross, np.linalg.pinv(gram) @ cross)
    return fitted / np.maximum((z**2).sum(axis=0), 1e-300)


def style_controlled_ranking(
    model_a: np.ndarray,
    model_b: np.ndarray,
    score_a: np.ndarray,
    features: dict[str, tuple[np.ndarray, np.ndarray]],
    models: list[str],
    *,
    cluster: str,
    rater: np.ndarray | None,
    prompt: np.ndarray | None,
    plain: dict[str, float],
) -> dict[str, Any]:
    """The style-controlled ranking beside the plain one, with the style coefficients.

    Votes lacking a feature value are left out (and counted). Intervals use the same
    clustering as the plain ranking, with the t(G - 1) reference when clustered."""
    known = np.ones(len(model_a), dtype=bool)
    for fa, fb in features.values():
        known &= np.isfinite(fa) & np.isfinite(fb)
    left_out = int((~known).sum())
    a, b, y = model_a[known], model_b[known], score_a[known]
    feats = {k: (fa[known], fb[known]) for k, (fa, fb) in features.items()}
    z, names, notes = style_covariates(feats)
    if left_out:
        notes.append(f"{left_out} votes lack a style feature value: left out of style control")
    if not names:
        return {"message": "no style feature varies between the answers", "notes": notes}
    used = np.unique(np.r_[a, b])
    local = np.full(len(models), -1)
    local[used] = np.arange(len(used))
    m = len(used)
    confounded = _explained_by_models(local[a], local[b], z, m)
    if (confounded > MAX_EXPLAINED).any():
        worst = int(np.argmax(confounded))
        return {
            "message": f"style feature {names[worst]} is almost determined by which models are "
            f"compared (R^2 = {confounded[worst]:.2f}): the ratings cannot be separated from "
            "style, so no style-controlled ranking is given",
            "features": names,
            "notes": notes,
        }
    fit = fit_bradley_terry_covariates(local[a], local[b], y, np.ones(len(a)), z, m)
    if not fit.converged or not np.all(np.isfinite(fit.theta)):
        return {
            "message": "the style-controlled fit did not converge (some model never wins or "
            "never loses, or a feature separates the votes)",
            "notes": notes,
        }
    dims = {"rater": rater, "prompt": prompt}
    if any(
        cluster in (d, "both") and (dims[d] is None or len(np.unique(dims[d][known])) < 2)
        for d in dims
    ):
        notes.append(f"fewer than two clusters for cluster={cluster}: votes treated as independent")
        cluster = "none"
    if cluster != "none":
        from scipy.special import expit

        residual = y - expit(fit.theta[local[a]] - fit.theta[local[b]] + z @ fit.beta)
        cc = clustered_covariance(
            fit.fisher_cov,
            local[a],
            local[b],
            residual,
            m,
            kind=cluster,
            rater=None if rater is None else rater[known],
            prompt=None if prompt is None else prompt[known],
            covariates=z,
        )
        cov, crit, df = cc.cov, float(t_ppf(0.975, cc.df)), cc.df
    else:
        cov, crit, df = fit.cov, float(norm_ppf(0.975)), None
    se_theta = np.sqrt(np.clip(np.diag(cov)[:m], 0, None)) * ELO_SCALE
    se_beta = np.sqrt(np.clip(np.diag(cov)[m:], 0, None))
    ratings = fit.ratings
    order = np.argsort(-ratings)
    plain_order = sorted(plain, key=lambda name: -plain[name])
    rows = []
    for rank, i in enumerate(order, start=1):
        name = models[used[i]]
        rows.append(
            {
                "model": name,
                "rating": ratings[i],
                "ci_low": ratings[i] - crit * se_theta[i],
                "ci_high": ratings[i] + crit * se_theta[i],
                "se": se_theta[i],
                "rank": rank,
                "plain_rating": plain.get(name),
                "plain_rank": plain_order.index(name) + 1 if name in plain else None,
            }
        )
    pvalue = (
        2 * t_sf(np.abs(fit.beta) / se_beta, df) if df else 2 * norm_sf(np.abs(fit.beta) / se_beta)
    )
    coefficients = [
        {
            "feature": name,
            "coefficient": fit.beta[k],
            "se": se_beta[k],
            "ci_low": fit.beta[k] - crit * se_beta[k],
            "ci_high": fit.beta[k] + crit * se_beta[k],
            "p_value": pvalue[k] if se_beta[k] > 0 else None,
            "elo_per_sd": fit.beta[k] * ELO_SCALE,
        }
        for k, name in enumerate(names)
    ]
    return {
        "features": names,
        "covariate": "(f_a - f_b) / (f_a + f_b), divided by its standard deviation over the votes",
        "votes": int(known.sum()),
        "coefficients": coefficients,
        "models": rows,
        "notes": notes,
    }
