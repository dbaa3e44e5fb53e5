"""The decision's charts as inline SVG (matplotlib, like the results page's)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from research.results.plots import _svg


def monthly_cost_chart(routing: dict[str, Any]) -> str | None:
    """Per category, the routed model's monthly cost beside the single best model's."""
    rows = [
        r
        for r in routing["rows"]
        if r["monthly_cost_usd"] is not None and r["single_best_monthly_cost_usd"] is not None
    ]
    if not rows:
        return None
    y = np.arange(len(rows))
    routed = [float(Decimal(r["monthly_cost_usd"])) for r in rows]
    single = [float(Decimal(r["single_best_monthly_cost_usd"])) for r in rows]
    figure, axes = plt.subplots(figsize=(6.5, 0.55 * len(rows) + 1.0))
    axes.barh(y - 0.2, single, height=0.38, color="#bbbbbb", label="best model everywhere")
    axes.barh(y + 0.2, routed, height=0.38, color="#417690", label="routed")
    axes.set_yticks(y, [f"{r['category']}\n{r['model']}" for r in rows])
    axes.invert_yaxis()
    axes.set_xlabel("monthly cost (USD)")
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(axis="x", alpha=0.3)
    return _svg(figure)


def quality_cost_chart(scope: dict[str, Any]) -> str | None:
    """Each priced model's win probability against the best (95% interval) by cost per
    request; the recommended one filled, the margin as a dashed line."""
    rows = [
        m
        for m in scope["models"]
        if m["cost_per_request_usd"] is not None and m["win_probability_vs_best"] is not None
    ]
    if len(rows) < 2:
        return None
    figure, axes = plt.subplots(figsize=(6.5, 3.2))
    for m in rows:
        x = float(Decimal(m["cost_per_request_usd"])) * 1000
        y = m["win_probability_vs_best"]
        low, high = m["ci_low"] or y, m["ci_high"] or y
        chosen = m["model"] == scope["recommended"]
        axes.vlines(x, low, high, color="#79aec8", linewidth=3)
        axes.plot(x, y, "o", color="#264b5d", markerfacecolor="#264b5d" if chosen else "white")
        axes.annotate(m["model"], (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    axes.set_xlabel("cost per 1,000 requests (USD)")
    axes.set_ylabel("P(preferred to the best)")
    axes.grid(alpha=0.3)
    return _svg(figure)
