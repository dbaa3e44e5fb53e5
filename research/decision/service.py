"""The decision document: per category and overall, the cheapest model not significantly worse
than the best by more than the margin that meets the latency budget, its cost at the stated
volume, the saving against the best model everywhere, the evidence, what would decide an open
question, the routing table and the what-ifs. The API, the admin page and the reports all show
this one document."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from evaluations.analysis.noninferiority import (
    noninferiority_against_best,
    noninferiority_votes_needed,
)
from evaluations.analysis.routing import routing_quality
from evaluations.models import Candidate, Study
from research.decision.constraints import DecisionConstraints
from research.decision.prices import (
    OVERALL,
    candidate_scope_measures,
    prices_provenance,
    study_output_measures,
)
from research.results.aggregation import ResultOptions, study_ranking

CENT = Decimal("0.01")
OVERALL_NAME = "overall"


def money(value: Decimal | None) -> str | None:
    """Dollars as a string to the cent (the document's money is never a float)."""
    return None if value is None else str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def per_request(value: Decimal) -> Decimal:
    """A cost per request as shown: to 1e-10 USD (the monthly figures use the exact mean)."""
    return value.quantize(Decimal("1e-10"), rounding=ROUND_HALF_UP).normalize()


def monthly_cost(cost_per_request: Decimal | None, volume: Decimal) -> Decimal | None:
    """The projected monthly cost: the measured mean cost per request times the volume."""
    return None if cost_per_request is None else cost_per_request * volume


def break_even_volume(
    usd_per_hour: Decimal, hours_per_month: Decimal, cost_per_request: Decimal | None
) -> Decimal | None:
    """Requests per month above which an always-on self-hosted instance costs less."""
    if cost_per_request is None or cost_per_request <= 0:
        return None
    return (usd_per_hour * hours_per_month / cost_per_request).to_integral_value()


def _latency_failures(measure: dict[str, Any], constraints: DecisionConstraints) -> list[str]:
    failures = []
    for key, budget, name in (
        ("ttft_ms_p95", constraints.ttft_p95_ms, "p95 time to first token"),
        ("latency_ms_p95", constraints.latency_p95_ms, "p95 latency"),
    ):
        if budget is None:
            continue
        value = measure.get(key)
        if value is None:
            failures.append(f"{name} not measured")
        elif value > budget:
            failures.append(f"{name} {value:,.0f} ms over the {budget:,.0f} ms budget")
    return failures


def _scope_decision(
    *,
    name: str,
    document: dict[str, Any],
    measures: dict[str, dict[str, Any]],
    volume: Decimal,
    volume_stated: bool,
    single_best: str | None,
    constraints: DecisionConstraints,
) -> dict[str, Any]:
    tested = noninferiority_against_best(document, constraints.margin_elo)
    best = tested["best"]
    total_votes = int(document.get("summary", {}).get("votes_ranked") or 0)
    single_best_cost = monthly_cost(
        (measures.get(single_best) or {}).get("cost_per_request_usd"), volume
    )
    models = []
    for label, measure in measures.items():
        test = tested["models"].get(label)
        cost = measure["cost_per_request_usd"]
        latency = _latency_failures(measure, constraints)
        reasons = []
        if test is None:
            reasons.append("no votes in this scope")
        elif not test["non_inferior"]:
            reasons.append(
                test.get("message")
                or "not shown within the margin of the best"
                + (f" (p = {test['p_value_holm']:.3g}, Holm)" if test.get("p_value_holm") else "")
            )
        if cost is None:
            reasons.append(f"no price: {measure['no_price']}")
        reasons.extend(latency)
        monthly = monthly_cost(cost, volume)
        models.append(
            {
                "model": label,
                "is_best": label == best,
                "rating_difference": None if test is None else test.get("rating_difference"),
                "win_probability_vs_best": None if test is None else test.get("win_probability"),
                "ci_low": None if test is None else test.get("ci_low"),
                "ci_high": None if test is None else test.get("ci_high"),
                "se": None if test is None else test.get("se"),
                "votes_with_best": None if test is None else test.get("votes"),
                "p_value": None if test is None else test.get("p_value"),
                "p_value_holm": None if test is None else test.get("p_value_holm"),
                "non_inferior": bool(test and test["non_inferior"]),
                "cost_per_request_usd": None if cost is None else format(per_request(cost), "f"),
                "monthly_cost_usd": money(monthly),
                "no_price": measure["no_price"],
                "meets_latency": not latency,
                "ttft_ms_p95": measure["ttft_ms_p95"],
                "latency_ms_p95": measure["latency_ms_p95"],
                "input_tokens_mean": measure["input_tokens_mean"],
                "output_tokens_mean": measure["output_tokens_mean"],
                "eligible": not reasons,
                "why_not": reasons,
                "_cost": cost,
                "_monthly": monthly,
            }
        )
    eligible = [m for m in models if m["eligible"]]
    ratings = {m["model"]: m["rating"] for m in document.get("models", [])}
    eligible.sort(key=lambda m: (m["_cost"], -(ratings.get(m["model"]) or 0.0)))
    chosen = eligible[0] if eligible else None
    open_questions = []
    ceiling = chosen["_cost"] if chosen else None
    for m in models:
        if m["eligible"] or m["non_inferior"] or m["_cost"] is None or not m["meets_latency"]:
            continue
        if ceiling is not None and m["_cost"] >= ceiling:
            continue
        test = tested["models"].get(m["model"])
        if not test or test.get("se") in (None, 0):
            continue
        plan = noninferiority_votes_needed(
            test["rating_difference"],
            test["se"],
            constraints.margin_elo,
            total_votes,
            candidates=max(len(tested["models"]) - 1, 1),
            df=tested.get("degrees_of_freedom"),
        )
        if plan.get("additional_votes") is not None:
            open_questions.append(
                {
                    "model": m["model"],
                    "additional_votes": plan["additional_votes"],
                    "in": "all categories" if name == OVERALL_NAME else name,
                    "would_save_usd": money(
                        None
                        if m["_monthly"] is None or chosen is None
                        else chosen["_monthly"] - m["_monthly"]
                    ),
                }
            )
    if best is None:
        verdict = "no votes yet: nothing to decide"
    elif chosen is None:
        verdict = "no model meets the constraints: " + "; ".join(
            f"{m['model']}: {', '.join(m['why_not'])}" for m in models
        )
    elif open_questions:
        q = open_questions[0]
        verdict = (
            f"{chosen['model']} for now; the data cannot yet decide whether the cheaper "
            f"{q['model']} is good enough: about {q['additional_votes']:,} more votes in "
            f"{name} would decide it"
        )
    else:
        verdict = f"{chosen['model']}"
    saving = (
        None
        if chosen is None or single_best_cost is None or chosen["_monthly"] is None
        else single_best_cost - chosen["_monthly"]
    )
    for m in models:
        m.pop("_cost"), m.pop("_monthly")
    return {
        "scope": name,
        "votes": total_votes,
        "volume": int(volume),
        "volume_stated": volume_stated,
        "best": best,
        "recommended": None if chosen is None else chosen["model"],
        "decided": chosen is not None and not open_questions,
        "verdict": verdict,
        "monthly_cost_usd": None if chosen is None else chosen["monthly_cost_usd"],
        "single_best_monthly_cost_usd": money(single_best_cost),
        "saving_usd": money(saving),
        "evidence": None
        if chosen is None
        else {
            k: chosen[k]
            for k in (
                "votes_with_best",
                "win_probability_vs_best",
                "ci_low",
                "ci_high",
                "p_value",
                "p_value_holm",
            )
        },
        "more_votes_would_decide": open_questions,
        "models": models,
    }


def study_decision(
    *,
    study: Study,
    constraints: DecisionConstraints,
    volume_scale: Decimal = Decimal(1),
) -> dict[str, Any]:
    """The decision under `constraints`, with every volume multiplied by `volume_scale`."""
    candidates = list(Candidate.objects.filter(study=study).order_by("id"))
    raw = study_output_measures(study=study)
    per_candidate = {
        c.label: candidate_scope_measures(c, raw.get(c.pk, []), constraints) for c in candidates
    }
    overall = study_ranking(study=study, options=ResultOptions())
    categories = sorted(overall.get("categories") or {})
    if not categories:
        categories = sorted({m.category for rows in raw.values() for m in rows} - {""})
    single_best = next((m["model"] for m in overall.get("models", []) if m.get("rating")), None)

    def scope_measures(scope: str | None) -> dict[str, dict[str, Any]]:
        empty = candidate_scope_measures(Candidate(label=""), [], constraints)[OVERALL]
        return {label: scopes.get(scope, empty) for label, scopes in per_candidate.items()}

    volumes = {c: Decimal(constraints.volumes.get(c, 0)) * volume_scale for c in categories}
    scopes = []
    for category in categories:
        try:
            document = study_ranking(study=study, options=ResultOptions(category=category))
        except ValueError:
            document = {"models": [], "pairwise": [], "summary": {"votes_ranked": 0}}
        scopes.append(
            _scope_decision(
                name=category,
                document=document,
                measures=scope_measures(category),
                volume=volumes[category],
                volume_stated=category in constraints.volumes,
                single_best=single_best,
                constraints=constraints,
            )
        )
    overall_volume = (
        sum(volumes.values(), Decimal(0))
        if categories
        else (Decimal(constraints.volumes.get(OVERALL_NAME, 0)) * volume_scale)
    )
    overall_scope = _scope_decision(
        name=OVERALL_NAME,
        document=overall,
        measures=_overall_measures(per_candidate, volumes, scope_measures(OVERALL)),
        volume=overall_volume,
        volume_stated=bool(categories) and all(c in constraints.volumes for c in categories),
        single_best=single_best,
        constraints=constraints,
    )
    return {
        "study": {"id": study.pk, "name": study.name},
        "constraints": constraints.as_json(),
        "margin": {
            "text": constraints.margin_text(),
            "rating_points": constraints.margin_elo,
        },
        "volume_scale": str(volume_scale),
        "prices": prices_provenance(constraints, raw),
        "test": "one-sided non-inferiority test of each model against the top-rated one on "
        "the Bradley-Terry rating difference (equivalently the pairwise win probability), "
        "Holm-corrected across the models tested, alpha 0.05, with the ranking's clustered "
        "standard errors",
        "single_best_model": single_best,
        "overall": overall_scope,
        "categories": scopes,
        "routing": _routing(scopes, overall_scope, constraints),
        "break_even": _break_even(overall_scope, constraints),
        "votes_needed": [q for s in [*scopes, overall_scope] for q in s["more_votes_would_decide"]],
    }


def _overall_measures(
    per_candidate: dict[str, dict[str | None, dict[str, Any]]],
    volumes: dict[str, Decimal],
    overall: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Overall cost per request weighted by the category volumes (the traffic mix), when any
    volume is stated; the plain mean over all outputs otherwise."""
    total = sum(volumes.values(), Decimal(0))
    if total <= 0:
        return overall
    measures = {}
    for label, scopes in per_candidate.items():
        row = dict(overall[label])
        costs = [(scopes.get(c) or {}).get("cost_per_request_usd") for c in volumes]
        if any(cost is None for cost, v in zip(costs, volumes.values(), strict=True) if v > 0):
            row["cost_per_request_usd"] = None
            row["no_price"] = row["no_price"] or "no price in a category with volume"
        else:
            row["cost_per_request_usd"] = (
                sum(
                    (cost * v for cost, v in zip(costs, volumes.values(), strict=True) if v > 0),
                    Decimal(0),
                )
                / total
            )
        measures[label] = row
    return measures


def _routing(
    scopes: list[dict[str, Any]], overall: dict[str, Any], constraints: DecisionConstraints
) -> dict[str, Any]:
    rows, volumes, differences, ses = [], [], [], []
    routed_cost, single_cost = Decimal(0), Decimal(0)
    complete_cost, complete_single = True, True
    for scope in scopes:
        chosen = scope["recommended"]
        fallback = chosen is None
        model = chosen or overall["recommended"] or overall["best"]
        entry = next((m for m in scope["models"] if m["model"] == model), None)
        monthly = None if entry is None else entry["monthly_cost_usd"]
        rows.append(
            {
                "category": scope["scope"],
                "volume": scope["volume"],
                "model": model,
                "fallback": fallback,
                "decided": scope["decided"],
                "monthly_cost_usd": monthly,
                "single_best_monthly_cost_usd": scope["single_best_monthly_cost_usd"],
                "win_probability_vs_best": None
                if entry is None
                else entry["win_probability_vs_best"],
                "ci_low": None if entry is None else entry["ci_low"],
                "ci_high": None if entry is None else entry["ci_high"],
            }
        )
        if monthly is None:
            complete_cost = False
        else:
            routed_cost += Decimal(monthly)
        if scope["single_best_monthly_cost_usd"] is None:
            complete_single = False
        else:
            single_cost += Decimal(scope["single_best_monthly_cost_usd"])
        volumes.append(scope["volume"])
        differences.append(
            np.nan
            if entry is None or entry["rating_difference"] is None
            else entry["rating_difference"]
        )
        ses.append(np.nan if entry is None or entry["se"] is None else entry["se"])
    quality = routing_quality(np.array(volumes), np.array(differences), np.array(ses))
    routed = money(routed_cost) if complete_cost and rows else None
    single = money(single_cost) if complete_single and rows else None
    budget = constraints.budget_usd
    return {
        "rows": rows,
        "monthly_cost_usd": routed,
        "single_best_monthly_cost_usd": single,
        "saving_usd": money(single_cost - routed_cost) if routed and single else None,
        "quality": {
            **quality,
            "meaning": "volume-weighted probability that the routed model's answer is preferred "
            "to the best model's of its category (0.5: as good as the best everywhere)",
        },
        "budget_usd": money(budget),
        "within_budget": None if budget is None or routed is None else Decimal(routed) <= budget,
    }


def _break_even(overall: dict[str, Any], constraints: DecisionConstraints) -> dict[str, Any]:
    hourly = constraints.self_hosting_usd_per_hour
    if hourly is None:
        return {"message": "state a self-hosting cost per hour to see the break-even volumes"}
    monthly = hourly * constraints.hours_per_month
    rows = []
    for m in overall["models"]:
        cost = None if m["cost_per_request_usd"] is None else Decimal(m["cost_per_request_usd"])
        volume = break_even_volume(hourly, constraints.hours_per_month, cost)
        rows.append(
            {
                "model": m["model"],
                "cost_per_request_usd": m["cost_per_request_usd"],
                "break_even_requests_per_month": None if volume is None else int(volume),
                "no_price": m["no_price"],
                "self_hosting_cheaper_at_stated_volume": None
                if volume is None
                else overall["volume"] > volume,
            }
        )
    return {
        "self_hosting_monthly_usd": money(monthly),
        "assumption": f"one instance running {constraints.hours_per_month} hours a month at "
        f"${hourly} an hour, with capacity for the whole volume, and nothing else (no staff, "
        "no idle replicas): self-hosting costs the same at any volume, an API model its cost "
        "per request times the volume",
        "rows": rows,
    }
