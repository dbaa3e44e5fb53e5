"""Server-rendered SVG charts of a study's results (matplotlib, Agg backend: no display)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, crisp, small
matplotlib.rcParams["font.size"] = 9


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    # Drop the XML prolog and doctype so the SVG can sit inline in the page.
    return text[text.index("<svg") :]


def ratings_chart(models: list[dict[str, Any]]) -> str:
    """Ratings with 95% interval bars, best at the top; an open side is drawn to the edge."""
    rows = list(reversed(models))
    figure, axes = plt.subplots(figsize=(6.5, 0.35 * len(rows) + 0.9))
    y = np.arange(len(rows))
    ratings = np.array([r["rating"] for r in rows])
    finite = [v for r in rows for v in (r["ci_low"], r["ci_high"]) if v is not None]
    span_low = min([*finite, *ratings]) - 20
    span_high = max([*finite, *ratings]) + 20
    low = np.array([span_low if r["ci_low"] is None else r["ci_low"] for r in rows])
    high = np.array([span_high if r["ci_high"] is None else r["ci_high"] for r in rows])
    axes.hlines(y, low, high, color="#79aec8", linewidth=3)
    axes.plot(ratings, y, "o", color="#264b5d")
    axes.set_yticks(y, [r["model"] for r in rows])
    axes.axvline(1000, color="#bbbbbb", linewidth=0.8, linestyle="--")
    axes.set_xlabel("rating (Elo scale, 95% interval)")
    axes.set_xlim(span_low, span_high)
    axes.grid(axis="x", alpha=0.3)
    return _svg(figure)


def heatmap_chart(matrix: dict[str, Any]) -> str:
    """P(row beats column) for every pair of models, in rating order."""
    names = matrix["models"]
    m = len(names)
    values = np.array(
        [[np.nan if v is None else v for v in row] for row in matrix["win_probability"]]
    )
    size = max(3.0, 0.55 * m + 1.6)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(values, cmap="RdBu", vmin=0, vmax=1)
    axes.set_xticks(range(m), names, rotation=45, ha="right")
    axes.set_yticks(range(m), names)
    if m <= 15:
        for i in range(m):
            for j in range(m):
                if not np.isnan(values[i, j]):
                    shade = "white" if abs(values[i, j] - 0.5) > 0.3 else "black"
                    axes.text(
                        j,
                        i,
                        f"{values[i, j]:.2f}",
                        ha="center",
                        va="center",
                        color=shade,
                        fontsize=8,
                    )
    axes.set_xlabel("column model")
    axes.set_ylabel("row model")
    figure.colorbar(image, ax=axes, label="P(row beats column)", fraction=0.046)
    return _svg(figure)


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """Which (cost, rating) points are Pareto-efficient: no other point costs no more and
    rates at least as high, and is strictly better on one of the two."""
    efficient = []
    for k, (cost, rating) in enumerate(points):
        dominated = any(
            c <= cost and r >= rating and (c < cost or r > rating)
            for j, (c, r) in enumerate(points)
            if j != k
        )
        efficient.append(not dominated)
    return efficient


def tradeoff_chart(points: list[dict[str, Any]], *, x_label: str, log_x: bool = False) -> str:
    """Rating against a cost (dollars, milliseconds), Pareto-efficient models marked and joined."""
    figure, axes = plt.subplots(figsize=(5.5, 4))
    xs = np.array([p["x"] for p in points])
    ys = np.array([p["rating"] for p in points])
    efficient = np.array(pareto_front(list(zip(xs, ys, strict=True))))
    err_low = np.array([0 if p["ci_low"] is None else p["rating"] - p["ci_low"] for p in points])
    err_high = np.array([0 if p["ci_high"] is None else p["ci_high"] - p["rating"] for p in points])
    axes.errorbar(xs, ys, yerr=[err_low, err_high], fmt="none", ecolor="#cccccc", zorder=1)
    axes.scatter(xs[~efficient], ys[~efficient], color="#999999", zorder=2, label="dominated")
    axes.scatter(xs[efficient], ys[efficient], color="#ba2121", zorder=3, label="Pareto-efficient")
    order = np.argsort(xs[efficient])
    axes.plot(xs[efficient][order], ys[efficient][order], color="#ba2121", linewidth=1, zorder=2)
    for p in points:
        axes.annotate(
            p["model"], (p["x"], p["rating"]), textcoords="offset points", xytext=(5, 4), fontsize=8
        )
    if log_x and (xs > 0).all() and len(xs) > 1:
        axes.set_xscale("log")
    axes.set_xlabel(x_label)
    axes.set_ylabel("rating")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    return _svg(figure)
