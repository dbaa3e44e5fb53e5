"""`analyze`: votes in, one JSON-able document out (the layout `manage.py analyze` prints)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
from scipy.special import expit

from .agreement import agreement_block
from .bias import length_bias, position_bias
from .bradley_terry import (
    DEGENERATE_PRIOR_PRECISION,
    ELO_SCALE,
    comparison_structure,
    fit_bradley_terry,
)
from .bradley_terry_bootstrap import bootstrap_bradley_terry, refit_bradley_terry
from .clustered import (
    POPULATION,
    cluster_bootstrap_counts,
    cluster_cells,
    cluster_resolve,
    clustered_covariance,
)
from .davidson import fit_davidson
from .distributions import chi2_sf, norm_ppf, t_ppf
from .options import BOTH_BAD_OPTIONS, TIES_OPTIONS
from .ordinal import ordinal_block
from .pairwise import _holm, _pairwise
from .power import DEFAULT_POWER
from .sequential import MIXTURE_SCALE
from .style import style_controlled_ranking
from .votes import A_WINS, B_WINS, BOTH_BAD, TIE, VoteArrays, pair_counts

Z95 = float(norm_ppf(0.975))
# Each round stores a rating per model; beyond this the percentiles gain nothing and memory
# runs out long before the rounds do.
MAX_BOOTSTRAP_ROUNDS = 100_000
WIN_PROBABILITY_MEANING = {
    "half": "P(model_a preferred) counting a tie as half: P(a wins) + P(tie) / 2",
    "davidson": "P(model_a wins | the vote is not a tie) = pi_a / (pi_a + pi_b) under Davidson's "
    "model; with ties the Davidson ratings spread wider than the half-win ones because ties "
    "no longer pull every pair towards 1/2",
}


def parse_anchor(anchor: str | tuple[str, float] | None) -> tuple[str, float] | None:
    """ "MODEL=VALUE" (split at the last "=") or (model, value)."""
    if anchor is None or isinstance(anchor, tuple):
        return anchor
    name, sep, value = anchor.rpartition("=")
    if not sep or not name:
        raise ValueError(f"anchor {anchor!r} must look like MODEL=VALUE")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"anchor value {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError("anchor value must be finite")
    return name, number


def analyze(
    votes: VoteArrays,
    *,
    ties: str = "half",
    both_bad: str = "tie",
    bootstrap: int = 0,
    seed: int | None = None,
    category: str | None = None,
    anchor: str | tuple[str, float] | None = None,
    min_shared: int = 10,
    cluster: str = "auto",
    power: float = DEFAULT_POWER,
    style_features: tuple[str, ...] | list[str] = (),
    turn: str | int | None = None,
) -> dict[str, Any]:
    """Rank models, test their differences, measure rater agreement and bias.

    ties: "half" (Bradley-Terry, a tie is half a win each way) or "davidson" (Davidson 1970).
    both_bad: "tie" (counted as a tie) or "exclude" (dropped from the ranking); always reported.
    bootstrap: 0 for sandwich intervals (Fisher for Davidson), N for percentile intervals from N
    multinomial resamples of the aggregated counts (seeded by `seed`); with clustering, N
    resamples of whole clusters. cluster: "auto" (two-way by rater and prompt when the votes carry
    both, else the one they carry), "none", "rater", "prompt" or "both": cluster-robust intervals
    and tests. power: the power `votes_needed` plans for. style_features: the researcher's own
    numeric features (columns NAME_a, NAME_b) for style control. turn: analyse only the votes
    on that turn of multi-turn conversations (as `category`). Gold votes never count in
    the ranking or the agreement. Returns a JSON-able dict (no NaN or infinity: null plus a
    message or warning instead).
    """
    if ties not in TIES_OPTIONS:
        raise ValueError(f"ties must be one of {', '.join(TIES_OPTIONS)}")
    if both_bad not in BOTH_BAD_OPTIONS:
        raise ValueError(f"both_bad must be one of {', '.join(BOTH_BAD_OPTIONS)}")
    if bootstrap < 0:
        raise ValueError("bootstrap must be >= 0")
    if not 0 < power < 1:
        raise ValueError("power must be between 0 and 1 (e.g. 0.8)")
    missing = [name for name in style_features if name not in votes.features]
    if missing:
        raise ValueError(
            f"style feature {', '.join(missing)} not in the votes (columns NAME_a and NAME_b)"
        )
    if bootstrap > MAX_BOOTSTRAP_ROUNDS:
        raise ValueError(f"bootstrap must be at most {MAX_BOOTSTRAP_ROUNDS} rounds")
    votes = canonical_order(votes)
    anchor_pair = parse_anchor(anchor)
    if anchor_pair is not None and anchor_pair[0] not in votes.models:
        raise ValueError(f"anchor model {anchor_pair[0]!r} has no votes")
    warnings: list[str] = []
    document: dict[str, Any] = {}
    if category is not None:
        if votes.category is None or category not in votes.categories:
            known = ", ".join(votes.categories) or "none"
            raise ValueError(f"category {category!r} not in the votes (categories: {known})")
        votes = votes.subset(votes.category == votes.categories.index(category))
    if turn is not None:
        turn = str(turn).strip()
        if votes.turn is None or turn not in votes.turns or turn == "":
            known = ", ".join(_turn_order(votes.turns)) or "none"
            raise ValueError(f"turn {turn!r} not in the votes (turns: {known})")
        votes = votes.subset(votes.turn == votes.turns.index(turn))
    # Studies with criteria: everything below is about the overall question; each criterion
    # gets its own ranking, agreement, bias and ordinal block under `criteria`.
    all_questions = votes
    votes = votes.overall()

    gold = votes.is_gold
    ranked = votes.subset(~gold)
    document["summary"] = {
        "votes": len(votes),
        "gold_votes": int(gold.sum()),
        "both_bad_votes": int((ranked.outcome == BOTH_BAD).sum()),
        "models": len(np.unique(np.r_[votes.model_a, votes.model_b])),
        "raters": len(np.unique(votes.rater)) if votes.rater is not None else None,
        "items": len(np.unique(votes.item)) if votes.item is not None else None,
        "category": category,
        "turn": turn,
        "ties": ties,
        "both_bad": both_bad,
    }
    if both_bad == "exclude":
        ranked = ranked.subset(ranked.outcome != BOTH_BAD)
    document["summary"]["votes_ranked"] = len(ranked)
    document["warnings"] = warnings
    cluster_kind, _ = cluster_resolve(cluster, ranked.rater, _prompts(ranked))
    document["summary"]["cluster"] = cluster_kind
    document["summary"]["power"] = power
    document.update(
        _ranking(
            ranked,
            ties=ties,
            bootstrap=bootstrap,
            seed=seed,
            anchor=anchor_pair,
            warnings=warnings,
            cluster=cluster_kind,
            power=power,
        )
    )

    if category is None and votes.category is not None and len(votes.categories) > 1:
        document["categories"] = {
            name: _sub_ranking(
                ranked.subset(ranked.category == code), "category", cluster_kind, ties, power
            )
            for code, name in enumerate(votes.categories)
        }
    named_turns = [name for name in votes.turns if name != ""]
    if turn is None and votes.turn is not None and len(votes.turns) > 1 and named_turns:
        document["turns"] = {
            name: _sub_ranking(
                ranked.subset(ranked.turn == votes.turns.index(name)),
                "turn",
                cluster_kind,
                ties,
                power,
            )
            for name in _turn_order(named_turns)
        }

    document["agreement"] = _agreement(votes.subset(~gold), both_bad, min_shared)
    document["gold"] = _gold(votes)
    document["bias"] = _bias(ranked, document["models"])
    document["style_control"] = _style(ranked, document["models"], cluster_kind)
    document["ordinal"] = ordinal_block(votes.subset(~gold), both_bad=both_bad)
    criteria = [name for name in all_questions.criteria if name]
    if criteria:
        document["criteria"] = {
            name: _criterion(
                all_questions.subset(all_questions.criterion == all_questions.criteria.index(name)),
                both_bad=both_bad,
                cluster=cluster_kind,
                power=power,
                min_shared=min_shared,
            )
            for name in criteria
        }
    return _jsonable(document)


def _criterion(
    votes: VoteArrays, *, both_bad: str, cluster: str, power: float, min_shared: int
) -> dict[str, Any]:
    """One criterion's answers: ranking (as a category's), agreement, bias and ordinal block."""
    votes = votes.subset(~votes.is_gold)
    ranked = votes.subset(votes.outcome != BOTH_BAD) if both_bad == "exclude" else votes
    block, notes = _subset_ranking(ranked, "criterion", cluster, "half", power)
    return {
        "votes": len(votes),
        "both_bad_votes": int((votes.outcome == BOTH_BAD).sum()),
        "models": block["models"],
        "pairwise": block["pairwise"],
        "warnings": notes,
        "agreement": _agreement(votes, both_bad, min_shared),
        "bias": _bias(ranked, block["models"]),
        "ordinal": ordinal_block(votes, both_bad=both_bad),
    }


def _sub_ranking(
    subset: VoteArrays, what: str, cluster_kind: str, ties: str, power: float
) -> dict[str, Any]:
    """The ranking of one category's or turn's votes."""
    block, notes = _subset_ranking(subset, what, cluster_kind, ties, power)
    return {"votes": len(subset), "models": block["models"], "warnings": notes}


def _subset_ranking(
    subset: VoteArrays, what: str, cluster_kind: str, ties: str, power: float
) -> tuple[dict[str, Any], list[str]]:
    """A subset's ranking block and its notes: sandwich intervals, clustered as the main ranking
    where the subset has the clusters for it."""
    notes: list[str] = []
    try:
        kind, _ = cluster_resolve(cluster_kind, subset.rater, _prompts(subset))
    except ValueError:
        kind = "none"
        notes.append(
            f"too few clusters in this {what} for cluster={cluster_kind}: "
            "intervals treat votes as independent"
        )
    block = _ranking(
        subset,
        ties=ties,
        bootstrap=0,
        seed=None,
        anchor=None,
        warnings=notes,
        cluster=kind,
        power=power,
    )
    return block, notes


def _turn_order(names: list[str]) -> list[str]:
    """Turn names in turn order: 1, 2, ..., 10 (numbers by value, anything else after)."""
    return sorted(names, key=lambda n: (0, int(n), "") if n.strip().isdigit() else (1, 0, n))


def _prompts(votes: VoteArrays) -> np.ndarray | None:
    return votes.prompt if votes.prompt is not None else votes.item


def _vote_scores(outcome: np.ndarray) -> np.ndarray:
    return np.where(outcome == A_WINS, 1.0, np.where(outcome == B_WINS, 0.0, 0.5))


def _style(votes: VoteArrays, models: list[dict[str, Any]], cluster: str) -> dict[str, Any]:
    if not votes.features:
        return {"message": "the votes carry no style features (length_a/_b, headers_a/_b, ...)"}
    if len({row["component"] for row in models}) > 1:
        return {"message": "style control needs one connected comparison graph"}
    plain = {row["model"]: row["rating"] for row in models}
    try:
        return style_controlled_ranking(
            votes.model_a,
            votes.model_b,
            _vote_scores(votes.outcome),
            votes.features,
            votes.models,
            cluster=cluster,
            rater=votes.rater,
            prompt=_prompts(votes),
            plain=plain,
        )
    except np.linalg.LinAlgError:
        return {"message": "the style-controlled fit is singular (a feature is collinear)"}


def canonical_order(votes: VoteArrays) -> VoteArrays:
    """The same votes with model, rater, item and category codes in name order, so that the
    document (bootstrap draws included) does not depend on the order of the rows."""

    def recode(codes: np.ndarray | None, names: list[str]) -> tuple[np.ndarray | None, list[str]]:
        if codes is None or names == sorted(names):
            return codes, names
        order = sorted(range(len(names)), key=lambda k: names[k])
        new_code = np.empty(len(names), dtype=np.int64)
        new_code[order] = np.arange(len(names))
        return new_code[codes].astype(codes.dtype), [names[k] for k in order]

    models_codes, models = recode(np.arange(len(votes.models)), votes.models)
    rater, raters = recode(votes.rater, votes.raters)
    item, items = recode(votes.item, votes.items)
    category, categories = recode(votes.category, votes.categories)
    criterion, criteria = recode(votes.criterion, votes.criteria)
    turn, turns = recode(votes.turn, votes.turns)
    recoded = replace(
        votes,
        model_a=models_codes[votes.model_a].astype(votes.model_a.dtype),
        model_b=models_codes[votes.model_b].astype(votes.model_b.dtype),
        models=models,
        rater=rater,
        raters=raters,
        item=item,
        items=items,
        category=category,
        categories=categories,
        criterion=criterion,
        criteria=criteria,
        turn=turn,
        turns=turns,
    )
    if recoded.prompt is not None and len(recoded.prompts) > int(recoded.prompt.max(initial=-1)):
        prompt, prompts = recode(recoded.prompt, recoded.prompts)
        recoded = replace(recoded, prompt=prompt, prompts=prompts)
    # Rows in a canonical order too: sums over votes (clustered scores, bootstrap weights) then
    # add up in the same order whether the votes came from the database or from a file. Items
    # are left out of the key: the database names them by pair, a file by question.
    keys = [
        column
        for column in (
            recoded.gold_answer,
            recoded.length_b,
            recoded.length_a,
            recoded.left_is_a,
            recoded.category,
            recoded.strength,
            recoded.turn,
            recoded.outcome,
            recoded.rater,
            recoded.prompt if recoded.prompts else None,
            recoded.model_b,
            recoded.model_a,
            recoded.criterion,
        )
        if column is not None
    ]
    return recoded.subset(np.lexsort(keys)) if len(recoded) else recoded


def _model_stats(votes: VoteArrays) -> dict[str, np.ndarray]:
    m = len(votes.models)
    a, b, out = votes.model_a, votes.model_b, votes.outcome

    def count(mask_a: np.ndarray, mask_b: np.ndarray) -> np.ndarray:
        return np.bincount(a[mask_a], minlength=m) + np.bincount(b[mask_b], minlength=m)

    return {
        "votes": count(np.ones(len(a), bool), np.ones(len(a), bool)),
        "wins": count(out == A_WINS, out == B_WINS),
        "losses": count(out == B_WINS, out == A_WINS),
        "ties": count(out == TIE, out == TIE),
        "both_bad": count(out == BOTH_BAD, out == BOTH_BAD),
    }


def _ranking(
    votes: VoteArrays,
    *,
    ties: str,
    bootstrap: int,
    seed: int | None,
    anchor: tuple[str, float] | None,
    warnings: list[str],
    cluster: str = "none",
    power: float = DEFAULT_POWER,
) -> dict[str, Any]:
    m_all = len(votes.models)
    counts = _model_stats(votes)
    method = (
        ("cluster bootstrap percentile" if cluster != "none" else "bootstrap percentile")
        if bootstrap
        else "fisher (Davidson likelihood)"
        if ties == "davidson"
        else "cluster-robust sandwich"
        if cluster != "none"
        else "sandwich"
    )
    interval = {
        "method": method,
        "level": 0.95,
        "bootstrap_rounds": bootstrap or None,
        "seed": seed if bootstrap else None,
        "cluster": cluster,
        "population": POPULATION[cluster],
        "sequential": "p_value_anytime and the confidence sequence (cs_low, cs_high) stay valid "
        "when the results are looked at after every vote and the study stops at the first "
        "significant pair (normal-mixture martingale, mixing scale "
        f"{MIXTURE_SCALE * ELO_SCALE:.0f} Elo); p_value is valid only at a sample size fixed in "
        "advance",
        "win_probability": WIN_PROBABILITY_MEANING[ties],
        "reference": (
            f"anchored: relative to {anchor[0]} fixed at {anchor[1]:g}"
            if anchor
            else "centred: relative to the average of the models in the same "
            "component (ratings average 1000)"
        ),
    }
    empty = {
        "models": [],
        "components": [],
        "pairwise": [],
        "equality_test": None,
        "votes_needed": [],
        "interval": interval,
    }
    if len(votes) == 0:
        warnings.append("no votes: nothing to rank")
        return empty
    pc = pair_counts(votes.model_a, votes.model_b, votes.outcome, m_all)
    k = len(pc.first)
    # Cells (first, second, score of first): first wins, second wins, tie, both bad (as a tie).
    cell_a = np.repeat(pc.first, 4)
    cell_b = np.repeat(pc.second, 4)
    cell_y = np.tile([1.0, 0.0, 0.5, 0.5], k)
    cell_n = pc.counts.ravel()
    used = cell_n > 0
    cell_a, cell_b, cell_y, cell_n = cell_a[used], cell_b[used], cell_y[used], cell_n[used]
    structure = comparison_structure(cell_a, cell_b, cell_y, cell_n, m_all)
    if structure.n_components == 0:
        warnings.append("no votes: nothing to rank")
        return empty
    unrated = [votes.models[i] for i in np.flatnonzero(structure.component < 0)]
    if unrated:
        warnings.append(f"no votes for {', '.join(unrated)}: not rated")
    if structure.n_components > 1:
        pieces = [
            [votes.models[i] for i in np.flatnonzero(structure.component == c)]
            for c in range(structure.n_components)
        ]
        warnings.append(
            f"the comparison graph has {structure.n_components} disconnected components "
            f"({'; '.join(', '.join(p) for p in pieces)}): ratings are only comparable within "
            "a component; each is ranked and centred on its own"
        )
    rng_root = np.random.SeedSequence(seed)
    component_seeds = rng_root.spawn(structure.n_components)
    models_out: list[dict[str, Any]] = []
    pairwise: list[dict[str, Any]] = []
    needed: list[dict[str, Any]] = []
    tests: list[dict[str, Any]] = []
    davidson_out: list[dict[str, Any]] = []
    resamples: list[dict[str, Any]] = []
    components: list[list[str]] = []
    for c in range(structure.n_components):
        members = np.flatnonzero(structure.component == c)
        names = [votes.models[i] for i in members]
        components.append(names)
        if len(members) == 1:
            warnings.append(f"{names[0]} has no comparison with another model: not rated")
            continue
        local = np.full(m_all, -1)
        local[members] = np.arange(len(members))
        in_c = local[cell_a] >= 0
        ca, cb, cy, cn = local[cell_a[in_c]], local[cell_b[in_c]], cell_y[in_c], cell_n[in_c]
        m = len(members)
        never_wins = structure.never_wins[members]
        never_loses = structure.never_loses[members]
        prior = 0.0
        if not structure.strongly_connected[c]:
            prior = DEGENERATE_PRIOR_PRECISION
            detail = []
            if never_wins.any():
                detail.append("never win: " + ", ".join(np.array(names)[never_wins]))
            if never_loses.any():
                detail.append("never lose: " + ", ".join(np.array(names)[never_loses]))
            warnings.append(
                "no maximum-likelihood rating exists (some models "
                + ("; ".join(detail) if detail else "only win against one group")
                + "): ratings in {"
                + ", ".join(names)
                + "} are MAP estimates with a N(0, 400 "
                "Elo) prior on each rating with posterior (Laplace) intervals, and the "
                "unbounded side of a never-winning or never-losing model's interval is null"
            )
        use_davidson = ties == "davidson"
        tie_total = float(cn[cy == 0.5].sum())
        davidson_problem = (
            "no ties"
            if tie_total == 0
            else "every vote is a tie, so the tie parameter is infinite"
            if tie_total >= cn.sum()
            else "no maximum-likelihood estimate"
            if prior > 0
            else None
        )
        if use_davidson and davidson_problem is None:
            pcs = _pair_table(ca, cb, cy, cn, m)
            try:
                dav = fit_davidson(pcs[0], pcs[1], pcs[2], pcs[3], pcs[4], m)
            except (ValueError, np.linalg.LinAlgError) as exc:
                davidson_problem = f"the fit failed: {exc}"
            else:
                if not (dav.converged and np.isfinite(dav.cov).all() and np.isfinite(dav.nu)):
                    davidson_problem = "the fit did not converge to finite numbers"
        if use_davidson and davidson_problem is not None:
            warnings.append(
                "Davidson fit not possible in {"
                + ", ".join(names)
                + "} ("
                + davidson_problem
                + "): Bradley-Terry with ties as half wins used instead"
            )
            use_davidson = False
        if use_davidson:
            theta, cov = dav.theta, dav.theta_cov
            null_ll = _davidson_null_loglik(pcs[2] + pcs[3], pcs[4])
            loglik = dav.loglik
            davidson_out.append(
                {
                    "models": names,
                    "tie_parameter": dav.nu,
                    "tie_parameter_se": dav.nu_se,
                    "log_tie_parameter": dav.log_nu,
                    "log_tie_parameter_se": float(np.sqrt(dav.cov[-1, -1])),
                    "converged": dav.converged,
                }
            )
        crit, df = Z95, None
        if not use_davidson:
            fit = fit_bradley_terry(ca, cb, cy, cn, m, prior_precision=prior)
            # With separated data the residuals of the never-losing (or never-winning) cells
            # are near zero, so the sandwich collapses and claims a precision the votes do not
            # have (2 wins out of 2 came out "separated at 95%"). The posterior (Laplace)
            # covariance H^-1, prior included, stays honest there.
            theta, cov = fit.theta, (fit.fisher_cov if prior > 0 else fit.cov)
            loglik, null_ll = fit.loglik, fit.null_loglik
            in_v = (local[votes.model_a] >= 0) & (local[votes.model_b] >= 0)
            va, vb = local[votes.model_a[in_v]], local[votes.model_b[in_v]]
            dims = {"rater": votes.rater, "prompt": _prompts(votes)}
            few = [
                d
                for d in ("rater", "prompt")
                if cluster in (d, "both") and len(np.unique(dims[d][in_v])) < 2
            ]
            if cluster != "none" and prior == 0 and few:
                warnings.append(
                    "{" + ", ".join(names) + f"}}: votes from a single {' and '.join(few)}, "
                    "so no clustered interval: votes are treated as independent"
                )
            elif cluster != "none" and prior == 0:
                residual = _vote_scores(votes.outcome[in_v]) - expit(theta[va] - theta[vb])
                robust = clustered_covariance(
                    fit.fisher_cov,
                    va,
                    vb,
                    residual,
                    m,
                    kind=cluster,
                    rater=None if votes.rater is None else votes.rater[in_v],
                    prompt=None if _prompts(votes) is None else _prompts(votes)[in_v],
                )
                cov, df = robust.cov, robust.df
                crit = float(t_ppf(0.975, df))
                interval["clusters"] = robust.clusters
                interval["degrees_of_freedom"] = df
                interval["small_cluster_correction"] = (
                    "meat scaled by G/(G-1); intervals and tests use t(G-1)"
                )
            elif cluster != "none":
                warnings.append(
                    "{" + ", ".join(names) + "}: no maximum-likelihood rating, so the "
                    "posterior (Laplace) intervals are used, not clustered ones"
                )
            if not fit.converged:
                warnings.append(
                    "Bradley-Terry Newton iterations did not converge in {" + ", ".join(names) + "}"
                )
        shift = 0.0
        transform = np.eye(m)
        if anchor is not None and anchor[0] in names:
            idx = names.index(anchor[0])
            shift = anchor[1] - 1000.0 - ELO_SCALE * theta[idx]
            transform = np.eye(m)
            transform[:, idx] -= 1.0
        elif anchor is not None:
            warnings.append(
                f"anchor {anchor[0]} is not in component {{{', '.join(names)}}}: "
                "that component is centred"
            )
        ratings = 1000.0 + ELO_SCALE * theta + shift
        cov_r = transform @ cov @ transform.T * ELO_SCALE**2
        se = np.sqrt(np.clip(np.diag(cov_r), 0, None))
        centred_se = ELO_SCALE * np.sqrt(np.clip(np.diag(cov), 0, None))
        centred = ELO_SCALE * theta
        centred_low, centred_high = centred - crit * centred_se, centred + crit * centred_se
        boot_ratings = None
        names_text = "{" + ", ".join(names) + "}"
        if bootstrap and len(cn) == 1:
            # One pair with one outcome: every resample is the data itself, so the bootstrap
            # cannot see any variability and would give zero-width intervals.
            warnings.append(
                f"every vote in {names_text} is the same outcome on the same pair, so every "
                "bootstrap resample equals the data: its intervals are the "
                + ("posterior" if prior > 0 else "sandwich")
                + " ones instead"
            )
            resamples.append(
                {
                    "models": names,
                    "requested": bootstrap,
                    "fitted": 0,
                    "fitted_with_prior": 0,
                    "failed": 0,
                    "used": False,
                    "reason": "every resample equals the data",
                }
            )
        elif bootstrap:
            if use_davidson:
                boot_theta, degenerate, failures = _bootstrap_davidson(
                    ca, cb, cy, cn, m, bootstrap, component_seeds[c], dav.theta
                )
            elif cluster != "none":
                boot_theta, degenerate = _cluster_bootstrap(
                    votes, in_v, va, vb, ca, cb, cy, m, fit, cluster, bootstrap, component_seeds[c]
                )
                failures = {}
            else:
                result = bootstrap_bradley_terry(
                    ca, cb, cy, cn, m, bootstrap, seed=component_seeds[c], fit=fit
                )
                boot_theta, degenerate = result.theta, result.degenerate_rounds
                failures = (
                    {"the fit's information matrix is singular": result.failed_rounds}
                    if result.failed_rounds
                    else {}
                )
            failed = sum(failures.values())
            resamples.append(
                {
                    "models": names,
                    "requested": bootstrap,
                    "fitted": len(boot_theta),
                    "fitted_with_prior": degenerate,
                    "failed": failed,
                    "failure_reasons": failures,
                    "used": len(boot_theta) >= 2,
                }
            )
            if degenerate:
                warnings.append(
                    f"{degenerate} of {bootstrap} bootstrap rounds in {names_text} had no "
                    "maximum-likelihood estimate (a model with no win or no loss, or a "
                    "comparison graph split by the resample); "
                    "they were fitted with the N(0, 400 Elo) prior"
                )
            if failed:
                warnings.append(
                    f"{failed} of {bootstrap} bootstrap rounds in {names_text} could not be "
                    "fitted and were left out ("
                    + "; ".join(f"{n}: {why}" for why, n in failures.items())
                    + ")"
                )
            if len(boot_theta) >= 2:
                boot_ratings = ratings + (ELO_SCALE * (boot_theta - theta)) @ transform.T
                centred_low, centred_high = np.percentile(
                    ELO_SCALE * boot_theta, [2.5, 97.5], axis=0
                )
                cov_r = np.atleast_2d(np.cov(boot_ratings, rowvar=False))
            else:
                warnings.append(
                    f"too few bootstrap rounds in {names_text} could be fitted: its intervals "
                    "are the " + ("posterior" if prior > 0 else "sandwich") + " ones instead"
                )
        if boot_ratings is not None:
            low, high = np.percentile(boot_ratings, [2.5, 97.5], axis=0)
            se = np.sqrt(np.clip(np.diag(cov_r), 0, None))
        else:
            low, high = ratings - crit * se, ratings + crit * se
        low = np.where(never_wins, np.nan, low)
        high = np.where(never_loses, np.nan, high)
        # Rank ranges come from the centred intervals, so that an anchor (which only moves the
        # reference point) does not change them.
        centred_low = np.where(never_wins, np.nan, centred_low)
        centred_high = np.where(never_loses, np.nan, centred_high)
        ranks, best, worst = _rank_ranges(centred, centred_low, centred_high)
        for i in range(m):
            g = members[i]
            votes_i = int(counts["votes"][g])
            models_out.append(
                {
                    "model": names[i],
                    "rating": ratings[i],
                    "ci_low": low[i],
                    "ci_high": high[i],
                    "se": se[i],
                    "rank": ranks[i],
                    "rank_lower": best[i],
                    "rank_upper": worst[i],
                    "votes": votes_i,
                    "wins": int(counts["wins"][g]),
                    "losses": int(counts["losses"][g]),
                    "ties": int(counts["ties"][g]),
                    "both_bad": int(counts["both_bad"][g]),
                    "win_rate": counts["wins"][g] / votes_i if votes_i else None,
                    "component": c,
                }
            )
        pair_block, need_block = _pairwise(
            names, ratings, cov_r, ca, cb, cn, boot_ratings, crit=crit, df=df, power=power
        )
        pairwise.extend(pair_block)
        needed.extend(need_block)
        df = m - 1
        lr = max(2 * (loglik - null_ll), 0.0)
        free = theta[1:] - theta[0]
        free_cov = cov[1:, 1:] - cov[1:, :1] - cov[:1, 1:] + cov[0, 0]
        try:
            wald = float(free @ np.linalg.solve(free_cov, free))
        except np.linalg.LinAlgError:
            wald = float("nan")
        tests.append(
            {
                "models": names,
                "df": df,
                "likelihood_ratio": lr,
                "p_value": float(chi2_sf(lr, df)),
                "robust_wald": wald,
                "robust_wald_p_value": float(chi2_sf(wald, df)),
                "note": (
                    "likelihood ratio against all ratings equal; with ties as half wins it is "
                    "a quasi-likelihood, so the robust (sandwich) Wald test is the calibrated "
                    "one"
                    if not use_davidson
                    else "likelihood ratio against all worths equal (Davidson, nu refitted)"
                ),
            }
        )
    order = sorted(
        range(len(models_out)), key=lambda i: (models_out[i]["component"], -models_out[i]["rating"])
    )
    _holm(pairwise)
    undefined = [f"{p['model_a']} vs {p['model_b']}" for p in pairwise if p["p_value"] is None]
    if undefined:
        warnings.append(
            "no p-value for "
            + ", ".join(undefined)
            + ": the difference has no estimated variability (null p_value and p_value_holm)"
        )
    if bootstrap:
        interval["bootstrap_resamples"] = resamples[0] if len(resamples) == 1 else resamples
    result: dict[str, Any] = {
        "interval": interval,
        "models": [models_out[i] for i in order],
        "components": components,
        "pairwise": pairwise,
        "equality_test": tests[0] if len(tests) == 1 else tests,
        "votes_needed": needed,
    }
    if ties == "davidson":
        result["davidson"] = davidson_out[0] if len(davidson_out) == 1 else davidson_out
    return result


def _cluster_bootstrap(
    votes: VoteArrays,
    in_v: np.ndarray,
    va: np.ndarray,
    vb: np.ndarray,
    ca: np.ndarray,
    cb: np.ndarray,
    cy: np.ndarray,
    m: int,
    fit: Any,
    cluster: str,
    rounds: int,
    seed: np.random.SeedSequence,
) -> tuple[np.ndarray, int]:
    """Refit on resamples of whole raters, prompts, or both (pigeonhole); in blocks of rounds."""
    y = _vote_scores(votes.outcome[in_v])

    def key(a: np.ndarray, b: np.ndarray, score: np.ndarray) -> np.ndarray:
        swap = a > b
        lo, hi = np.where(swap, b, a), np.where(swap, a, b)
        s_lo = np.where(swap, 1.0 - score, score)
        return (lo.astype(np.int64) * m + hi) * 3 + np.round(2 * s_lo).astype(np.int64)

    cell_keys = key(ca, cb, cy)
    order = np.argsort(cell_keys)
    cell_of_vote = order[np.searchsorted(cell_keys[order], key(va, vb, y))]
    membership = np.zeros((len(ca), m))
    membership[np.arange(len(ca)), ca] = 1
    membership[np.arange(len(ca)), cb] = 1
    dims = []
    if cluster in ("rater", "both"):
        dims.append(votes.rater[in_v])
    if cluster in ("prompt", "both"):
        dims.append(_prompts(votes)[in_v])
    rng = np.random.default_rng(seed)
    cells = cluster_cells(cell_of_vote, len(ca), dims)
    thetas = []
    degenerate = 0
    for start in range(0, rounds, 50):
        size = min(50, rounds - start)
        counts = cluster_bootstrap_counts(rng, size, cells)
        thetas.append(refit_bradley_terry(ca, cb, cy, counts, m, fit))
        degenerate += int(((counts @ membership) == 0).any(axis=1).sum())
    return np.vstack(thetas), degenerate


def _pair_table(
    ca: np.ndarray,
    cb: np.ndarray,
    cy: np.ndarray,
    cn: np.ndarray,
    m: int,
) -> tuple[np.ndarray, ...]:
    """(first, second, first wins, second wins, ties) per unordered pair from cells."""
    swap = ca > cb
    lo, hi = np.where(swap, cb, ca), np.where(swap, ca, cb)
    y = np.where(swap, 1 - cy, cy)
    keys, inv = np.unique(lo * m + hi, return_inverse=True)
    w1 = np.bincount(inv, cn * (y == 1), minlength=len(keys))
    w2 = np.bincount(inv, cn * (y == 0), minlength=len(keys))
    t = np.bincount(inv, cn * (y == 0.5), minlength=len(keys))
    return keys // m, keys % m, w1, w2, t


def _davidson_null_loglik(decisive: np.ndarray, ties: np.ndarray) -> float:
    q = ties.sum() / (decisive.sum() + ties.sum())
    nu = 2 * q / (1 - q)
    return float(decisive.sum() * np.log(1 / (2 + nu)) + ties.sum() * np.log(nu / (2 + nu)))


def _bootstrap_davidson(
    ca: np.ndarray,
    cb: np.ndarray,
    cy: np.ndarray,
    cn: np.ndarray,
    m: int,
    rounds: int,
    seed: np.random.SeedSequence,
    theta0: np.ndarray,
) -> tuple[np.ndarray, int, dict[str, int]]:
    """Davidson refitted on `rounds` multinomial resamples: theta of the rounds that fitted,
    how many of them needed the N(0, 400 Elo) prior (no MLE in the resample), and the rounds
    that could not be fitted, by reason (they are left out, never replaced by the estimate)."""
    # Davidson studies are small (tens of models), so one refit per round is affordable here.
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(int(round(cn.sum())), cn / cn.sum(), size=rounds)
    out = np.empty((rounds, m))
    fitted = np.zeros(rounds, dtype=bool)
    degenerate = 0
    failures: dict[str, int] = {}
    for r in range(rounds):
        counts = draws[r].astype(float)
        ties, total = float(counts[cy == 0.5].sum()), float(counts.sum())
        if ties == 0 or ties == total:
            why = "no tie in the resample" if ties == 0 else "every resampled vote is a tie"
            failures[why] = failures.get(why, 0) + 1
            continue
        used = counts > 0
        structure = comparison_structure(ca[used], cb[used], cy[used], counts[used], m)
        prior = 0.0
        # A model the resample left without votes has no estimate at all, not a wild one.
        if (
            structure.n_components != 1
            or not structure.strongly_connected[0]
            or (structure.component < 0).any()
        ):
            prior = DEGENERATE_PRIOR_PRECISION
        pcs = _pair_table(ca[used], cb[used], cy[used], counts[used], m)
        try:
            fit = fit_davidson(*pcs, m, prior_precision=prior)
        except (ValueError, np.linalg.LinAlgError):
            fit = None
        if fit is None or not (fit.converged and np.isfinite(fit.theta).all()):
            why = "the fit did not converge"
            failures[why] = failures.get(why, 0) + 1
            continue
        out[r], fitted[r] = fit.theta, True
        degenerate += prior > 0
    return out[fitted], degenerate, failures


def _rank_ranges(
    ratings: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> tuple[list[int], list[int], list[int]]:
    """Rank 1 = best. Best rank: 1 + models whose interval lies wholly above this one's; worst:
    M - models whose interval lies wholly below. Null (open) bounds count as +/- infinity."""
    lo = np.where(np.isnan(low), -np.inf, low)
    hi = np.where(np.isnan(high), np.inf, high)
    m = len(ratings)
    rank = 1 + (ratings[None, :] > ratings[:, None]).sum(axis=1)
    best = 1 + (lo[None, :] > hi[:, None]).sum(axis=1)
    worst = m - (hi[None, :] < lo[:, None]).sum(axis=1)
    return rank.tolist(), best.tolist(), worst.tolist()


def _agreement(votes: VoteArrays, both_bad: str, min_shared: int) -> dict[str, Any]:
    if votes.rater is None or votes.item is None:
        return {"message": "votes carry no rater or item: agreement not computed"}
    keep = votes.outcome != BOTH_BAD if both_bad == "exclude" else np.ones(len(votes), bool)
    a, b, out = votes.model_a[keep], votes.model_b[keep], votes.outcome[keep]
    m = len(votes.models)
    # Units are oriented by model name, not by code: codes follow the order of first appearance
    # in the file, and the category shares behind every kappa depend on the orientation.
    name_rank = np.argsort(np.argsort(np.asarray(votes.models, dtype=object)))
    swap = name_rank[a] > name_rank[b]
    label = np.where(out == A_WINS, 0, np.where(out == B_WINS, 2, 1))
    label = np.where(swap, 2 - label, label)
    unit = (votes.item[keep].astype(np.int64) * m + np.minimum(a, b)) * m + np.maximum(a, b)
    if len(unit) == 0:
        return {"message": "no votes"}
    block = agreement_block(unit, votes.rater[keep], label, votes.raters, min_shared=min_shared)
    block["labels"] = "first model (by name) better < tie < second model better (both bad "
    block["labels"] += "counted as tie)" if both_bad == "tie" else "excluded)"
    return block


def _gold(votes: VoteArrays) -> dict[str, Any]:
    gold = votes.is_gold
    if not gold.any():
        return {"gold_votes": 0}
    correct = votes.outcome[gold] == votes.gold_answer[gold]
    raters = votes.rater[gold] if votes.rater is not None else np.zeros(int(gold.sum()), int)
    names = votes.raters or [""]
    n = np.bincount(raters, minlength=len(names))
    k = np.bincount(raters, correct.astype(float), minlength=len(names))
    return {
        "gold_votes": int(gold.sum()),
        "accuracy": float(correct.mean()),
        "per_rater": [
            {"rater": names[r], "gold_votes": int(n[r]), "accuracy": float(k[r] / n[r])}
            for r in np.flatnonzero(n)
        ],
    }


def _bias(votes: VoteArrays, models: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if votes.left_is_a is not None and (votes.left_is_a >= 0).any():
        out["position"] = position_bias(
            votes.model_a, votes.model_b, votes.outcome, votes.left_is_a, votes.models
        )
    else:
        out["position"] = {"message": "the side shown on the left is not recorded"}
    if votes.length_a is not None and votes.length_b is not None:
        plain = {row["model"]: row["rating"] for row in models}
        out["length"] = length_bias(
            votes.model_a,
            votes.model_b,
            votes.outcome,
            votes.length_a,
            votes.length_b,
            votes.models,
            plain,
        )
    else:
        out["length"] = {"message": "answer lengths are not recorded"}
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.integer | bool | np.bool_):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return value
