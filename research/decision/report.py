"""The decision as a ticket (Markdown) and as the context of the standalone HTML report."""

from __future__ import annotations

from typing import Any


def _cell(text: str) -> str:
    """Researchers' names inside a Markdown table cell: no row or column breaks."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _usd(value: str | None) -> str:
    return "no price" if value is None else f"${value}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _evidence(scope: dict[str, Any]) -> str:
    e = scope["evidence"]
    if not e:
        return "–"
    if e["p_value_holm"] is None:
        return "the best model"
    return (
        f"{e['votes_with_best']} votes with the best, "
        f"P(preferred) {_pct(e['win_probability_vs_best'])} "
        f"[{_pct(e['ci_low'])}, {_pct(e['ci_high'])}], p = {e['p_value_holm']:.3g} (Holm)"
    )


def decision_markdown(document: dict[str, Any]) -> str:
    prices = document["prices"]
    routing = document["routing"]
    lines = [
        f"# Decision: {document['study']['name']}",
        "",
        f"Quality margin: {document['margin']['text']}. Test: {document['test']}.",
        f"Prices: {prices['source']}"
        + (f", dated {prices['date']}" if prices["date"] else "")
        + f". Volume scale: x{document['volume_scale']}.",
        "",
        "| scope | volume / month | recommended | monthly cost | best everywhere | saving "
        "| evidence |",
        "|---|---|---|---|---|---|---|",
    ]
    for scope in [*document["categories"], document["overall"]]:
        lines.append(
            f"| {_cell(scope['scope'])} | {scope['volume']:,} | "
            f"{_cell(scope['recommended'] or '–')} | "
            f"{_usd(scope['monthly_cost_usd'])} | {_usd(scope['single_best_monthly_cost_usd'])} | "
            f"{_usd(scope['saving_usd'])} | {_evidence(scope)} |"
        )
    lines += ["", "Verdicts:", ""]
    lines += [
        f"- {s['scope']}: {s['verdict']}" for s in [*document["categories"], document["overall"]]
    ]
    quality = routing["quality"]
    lines += [
        "",
        "## Routing",
        "",
        f"Blended monthly cost {_usd(routing['monthly_cost_usd'])} against "
        f"{_usd(routing['single_best_monthly_cost_usd'])} for the best model everywhere "
        f"(saving {_usd(routing['saving_usd'])}).",
        f"Expected quality: {_pct(quality['quality'])} "
        + (
            f"[{_pct(quality['ci_low'])}, {_pct(quality['ci_high'])}], {quality['meaning']}."
            if quality["quality"] is not None
            else f"({quality['message']})."
        ),
    ]
    if routing["budget_usd"] is not None:
        within = routing["within_budget"]
        lines.append(
            f"Budget ${routing['budget_usd']}: "
            + ("within" if within else "over" if within is False else "unknown (no price)")
            + "."
        )
    no_price = sorted({m["model"] for m in document["overall"]["models"] if m["no_price"]})
    if no_price:
        lines.append(f"No price (left out of cost-based choices): {', '.join(no_price)}.")
    lines += [
        "",
        "## Models",
        "",
        "| scope | model | P(preferred to best) | p (Holm) | cost / request | monthly | why not |",
        "|---|---|---|---|---|---|---|",
    ]
    for scope in [*document["categories"], document["overall"]]:
        for m in scope["models"]:
            p = "–" if m["p_value_holm"] is None else f"{m['p_value_holm']:.3g}"
            cost = _usd(m["cost_per_request_usd"])
            lines.append(
                f"| {_cell(scope['scope'])} | {_cell(m['model'])} | "
                f"{_pct(m['win_probability_vs_best'])} | {p} | {cost} | "
                f"{_usd(m['monthly_cost_usd'])} | {_cell('; '.join(m['why_not']) or 'eligible')} |"
            )
    break_even = document["break_even"]
    lines += ["", "## Self-hosting break-even", ""]
    if "rows" in break_even:
        lines.append(f"Assumption: {break_even['assumption']}.")
        for row in break_even["rows"]:
            volume = row["break_even_requests_per_month"]
            lines.append(
                f"- {row['model']}: "
                + (
                    "no price"
                    if row["no_price"]
                    else f"{volume:,} requests/month"
                    if volume
                    else "never"
                )
            )
    else:
        lines.append(break_even["message"] + ".")
    for entry in document["recorded"]:
        holds = "still holds" if entry["holds"] else "no longer holds"
        lines += [
            "",
            f"Recorded decision ({entry['origin']}) by {entry['decided_by'] or 'unknown'} at "
            f"{entry['decided_at']} on {entry['votes']} votes: {holds}.",
        ]
    return "\n".join(lines) + "\n"


def decision_charts(document: dict[str, Any]) -> dict[str, str]:
    from research.decision.charts import monthly_cost_chart, quality_cost_chart  # matplotlib

    charts = {
        "monthly_cost": monthly_cost_chart(document["routing"]),
        "quality_cost": quality_cost_chart(document["overall"]),
    }
    return {k: v for k, v in charts.items() if v}
