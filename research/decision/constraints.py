"""A researcher's decision constraints: read from (and written back to) the study's
`decision_constraints` JSON, validated with a message per field, money as Decimal."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

MARGIN_KINDS = ("rating", "win_probability")
PRICE_SOURCES = ("measured", "litellm", "typed")
HOURS_PER_MONTH = Decimal(730)  # 365 x 24 / 12
MAX_VOLUME = 10**12


class ConstraintsError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class TypedPrice:
    input_per_mtok: Decimal
    output_per_mtok: Decimal


@dataclass(frozen=True)
class DecisionConstraints:
    margin_kind: str = "win_probability"
    margin: float = 5.0
    ttft_p95_ms: float | None = None
    latency_p95_ms: float | None = None
    volumes: dict[str, int] = field(default_factory=dict)
    budget_usd: Decimal | None = None
    price_source: str = "measured"
    typed_prices: dict[str, TypedPrice] = field(default_factory=dict)
    typed_prices_date: str = ""
    self_hosting_usd_per_hour: Decimal | None = None
    hours_per_month: Decimal = HOURS_PER_MONTH

    @property
    def margin_elo(self) -> float:
        if self.margin_kind == "rating":
            return float(self.margin)
        from evaluations.analysis.noninferiority import margin_from_win_probability_points

        return margin_from_win_probability_points(self.margin)

    def margin_text(self) -> str:
        if self.margin_kind == "rating":
            return f"at most {self.margin:g} rating points below the best"
        return (
            f"at most {self.margin:g} percentage points of win probability below the best "
            f"({self.margin_elo:.1f} rating points)"
        )

    def with_overrides(self, **changes: Any) -> DecisionConstraints:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_json(self) -> dict[str, Any]:
        return {
            "margin_kind": self.margin_kind,
            "margin": self.margin,
            "ttft_p95_ms": self.ttft_p95_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "volumes": dict(self.volumes),
            "budget_usd": _text(self.budget_usd),
            "price_source": self.price_source,
            "typed_prices": {
                label: {
                    "input_per_mtok": str(p.input_per_mtok),
                    "output_per_mtok": str(p.output_per_mtok),
                }
                for label, p in self.typed_prices.items()
            },
            "typed_prices_date": self.typed_prices_date,
            "self_hosting_usd_per_hour": _text(self.self_hosting_usd_per_hour),
            "hours_per_month": str(self.hours_per_month),
        }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: Any, name: str, errors: dict[str, str]) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors[name] = f"{value!r} is not a number"
        return None
    if not number.is_finite() or number < 0:
        errors[name] = "must be a number of 0 or more"
        return None
    if number > Decimal(10) ** 12:
        errors[name] = "is too large"
        return None
    return number


def _positive_float(value: Any, name: str, errors: dict[str, str]) -> float | None:
    number = _decimal(value, name, errors)
    if number is None:
        return None
    if number <= 0:
        errors[name] = "must be greater than 0"
        return None
    return float(number)


def constraints_from_json(data: Any) -> DecisionConstraints:
    """Constraints from the JSON stored on a study (or typed in a form or a query), or
    ConstraintsError with a message per field. Unknown keys are ignored."""
    if not isinstance(data, dict):
        raise ConstraintsError({"constraints": "must be an object"})
    errors: dict[str, str] = {}
    defaults = DecisionConstraints()
    kind = data.get("margin_kind") or defaults.margin_kind
    if kind not in MARGIN_KINDS:
        errors["margin_kind"] = f"must be one of {', '.join(MARGIN_KINDS)}"
    margin = _positive_float(data.get("margin", defaults.margin), "margin", errors)
    if margin is not None and kind == "win_probability" and margin >= 50:
        errors["margin"] = "a win-probability margin must be below 50 percentage points"
    if margin is None and "margin" not in errors:
        errors["margin"] = "is required"
    volumes: dict[str, int] = {}
    raw_volumes = data.get("volumes") or {}
    if not isinstance(raw_volumes, dict):
        errors["volumes"] = "must map categories to monthly requests"
        raw_volumes = {}
    for category, value in raw_volumes.items():
        number = _decimal(value, f"volumes.{category}", errors)
        if number is None:
            continue
        if number != number.to_integral_value() or number > MAX_VOLUME:
            errors[f"volumes.{category}"] = "must be a whole number of requests per month"
            continue
        volumes[str(category)] = int(number)
    source = data.get("price_source") or defaults.price_source
    if source not in PRICE_SOURCES:
        errors["price_source"] = f"must be one of {', '.join(PRICE_SOURCES)}"
    typed: dict[str, TypedPrice] = {}
    raw_prices = data.get("typed_prices") or {}
    if not isinstance(raw_prices, dict):
        errors["typed_prices"] = "must map candidate labels to prices"
        raw_prices = {}
    for label, price in raw_prices.items():
        if not isinstance(price, dict):
            errors[f"typed_prices.{label}"] = "must have input_per_mtok and output_per_mtok"
            continue
        price_in = _decimal(price.get("input_per_mtok"), f"typed_prices.{label}.input", errors)
        price_out = _decimal(price.get("output_per_mtok"), f"typed_prices.{label}.output", errors)
        if price_in is not None or price_out is not None:
            typed[str(label)] = TypedPrice(price_in or Decimal(0), price_out or Decimal(0))
    hours = _decimal(data.get("hours_per_month"), "hours_per_month", errors)
    if hours is not None and not 0 < hours <= 744:
        errors["hours_per_month"] = "must be between 0 and 744 (a month of 31 days)"
    ttft = _positive_float(data.get("ttft_p95_ms"), "ttft_p95_ms", errors)
    latency = _positive_float(data.get("latency_p95_ms"), "latency_p95_ms", errors)
    budget = _decimal(data.get("budget_usd"), "budget_usd", errors)
    hourly = _decimal(data.get("self_hosting_usd_per_hour"), "self_hosting_usd_per_hour", errors)
    if errors:
        raise ConstraintsError(errors)
    return DecisionConstraints(
        margin_kind=kind,
        margin=float(margin),
        ttft_p95_ms=ttft,
        latency_p95_ms=latency,
        volumes=volumes,
        budget_usd=budget,
        price_source=source,
        typed_prices=typed,
        typed_prices_date=str(data.get("typed_prices_date") or "")[:40],
        self_hosting_usd_per_hour=hourly,
        hours_per_month=hours or HOURS_PER_MONTH,
    )
