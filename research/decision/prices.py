"""What one request costs per candidate and category, under a chosen price table, in Decimal.

- `measured`: the cost recorded on each output when it was generated (the candidate's own
  prices, or LiteLLM's table at that time).
- `litellm`: the outputs' measured token counts priced with LiteLLM's local price table now.
- `typed`: the token counts priced with prices the researcher typed per candidate.

Nothing is regenerated: the token counts and costs are those already stored. A candidate with no
price under the chosen table (no cost recorded, a model LiteLLM does not know, no typed price)
is "no price", never a cost of zero.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from evaluations.models import Candidate, Output, Study
from evaluations.providers.llm_loading import litellm_loaded
from research.decision.constraints import DecisionConstraints

MILLION = Decimal(1_000_000)
OVERALL = None  # the scope key of all categories together


@dataclass(frozen=True)
class OutputMeasure:
    category: str
    cost_usd: Decimal | None
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float | None
    ttft_ms: float | None
    finished_at: dt.datetime | None


def study_output_measures(*, study: Study) -> dict[int, list[OutputMeasure]]:
    """The done outputs' measurements per candidate id."""
    rows = Output.objects.filter(prompt__study=study, status=Output.Status.DONE).values_list(
        "candidate_id",
        "prompt__category",
        "cost_usd",
        "input_tokens",
        "output_tokens",
        "latency_ms",
        "ttft_ms",
        "finished_at",
    )
    measures: dict[int, list[OutputMeasure]] = defaultdict(list)
    for candidate_id, *values in rows.iterator(chunk_size=5000):
        measures[candidate_id].append(OutputMeasure(*values))
    return measures


def litellm_price_per_mtok(model: str) -> tuple[Decimal, Decimal] | None:
    """USD per million input and output tokens in LiteLLM's local table, or None."""
    try:
        litellm = litellm_loaded()
        cost_in, _ = litellm.cost_per_token(model=model, prompt_tokens=1_000_000)
        _, cost_out = litellm.cost_per_token(model=model, completion_tokens=1_000_000)
    except Exception:  # noqa: BLE001 - LiteLLM raises several types for an unknown model
        return None
    return Decimal(str(cost_in)), Decimal(str(cost_out))


def litellm_table_provenance() -> dict[str, str]:
    version = importlib.metadata.version("litellm")
    table = Path(litellm_loaded().__file__).parent / "model_prices_and_context_window_backup.json"
    dated = (
        dt.datetime.fromtimestamp(table.stat().st_mtime, tz=dt.UTC).date().isoformat()
        if table.exists()
        else ""
    )
    return {
        "source": f"LiteLLM's local price table (litellm {version}, {table.name})",
        "date": dated,
    }


def _finished_range(measures: dict[int, list[OutputMeasure]]) -> str:
    times = [m.finished_at for rows in measures.values() for m in rows if m.finished_at]
    if not times:
        return ""
    first, last = min(times).date().isoformat(), max(times).date().isoformat()
    return first if first == last else f"{first} to {last}"


def prices_provenance(
    constraints: DecisionConstraints, measures: dict[int, list[OutputMeasure]]
) -> dict[str, str]:
    if constraints.price_source == "litellm":
        return {"kind": "litellm", **litellm_table_provenance()}
    if constraints.price_source == "typed":
        return {
            "kind": "typed",
            "source": "prices typed by the researcher per candidate",
            "date": constraints.typed_prices_date,
        }
    return {
        "kind": "measured",
        "source": "the cost recorded on each output at generation (the candidate's prices, or "
        "LiteLLM's table then)",
        "date": _finished_range(measures),
    }


def request_costs(
    candidate: Candidate, rows: list[OutputMeasure], constraints: DecisionConstraints
) -> tuple[list[tuple[str, Decimal]], str | None]:
    """(category, cost) per priced output, and why there is no price when there is none."""
    source = constraints.price_source
    if source == "measured":
        costed = [(m.category, m.cost_usd) for m in rows if _finite(m.cost_usd)]
        return costed, None if costed else "no cost recorded on its outputs"
    if source == "litellm":
        price = litellm_price_per_mtok(candidate.model)
        reason = f"LiteLLM's table has no price for {candidate.model}"
    else:
        typed = constraints.typed_prices.get(candidate.label)
        price = (typed.input_per_mtok, typed.output_per_mtok) if typed else None
        reason = "no price typed for it"
    if price is None:
        return [], reason
    price_in, price_out = price
    costed = [
        (
            m.category,
            (Decimal(m.input_tokens or 0) * price_in + Decimal(m.output_tokens or 0) * price_out)
            / MILLION,
        )
        for m in rows
        if m.input_tokens is not None or m.output_tokens is not None
    ]
    return costed, None if costed else "no token counts on its outputs"


def _finite(value: Decimal | None) -> bool:
    return value is not None and value.is_finite()


def candidate_scope_measures(
    candidate: Candidate, rows: list[OutputMeasure], constraints: DecisionConstraints
) -> dict[str | None, dict[str, Any]]:
    """Per category (and OVERALL): mean cost per request (Decimal) or `no_price`, the mean
    tokens, and p95 time to first token and latency."""
    costed, no_price = request_costs(candidate, rows, constraints)
    scopes: dict[str | None, dict[str, Any]] = {}
    categories = sorted({m.category for m in rows})
    for scope in [OVERALL, *categories]:
        chosen = [m for m in rows if scope is OVERALL or m.category == scope]
        costs = [c for cat, c in costed if scope is OVERALL or cat == scope]
        scopes[scope] = {
            "outputs": len(chosen),
            "priced_outputs": len(costs),
            "cost_per_request_usd": sum(costs, Decimal(0)) / len(costs) if costs else None,
            "no_price": None if costs else (no_price or "no priced output in this category"),
            "input_tokens_mean": _mean([m.input_tokens for m in chosen]),
            "output_tokens_mean": _mean([m.output_tokens for m in chosen]),
            "ttft_ms_p95": _p95([m.ttft_ms for m in chosen]),
            "latency_ms_p95": _p95([m.latency_ms for m in chosen]),
        }
    return scopes


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _p95(values: list[float | None]) -> float | None:
    known = np.array([v for v in values if v is not None], dtype=float)
    known = known[np.isfinite(known)]
    return float(np.percentile(known, 95)) if len(known) else None
