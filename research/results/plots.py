"""Server-rendered SVG charts of a study's results (matplotlib, Agg backend: no display)."""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, crisp, small
matplotlib.rcParams["font.size"] = 9
# Labels are researchers' model names: "$\\cmd$" is a name, not mathtext to typeset (or fail).
matplotlib.rcParams["text.parse_math"] = False


_STYLE_ELEMENT = re.compile(r"<style\b[^>]*>.*?</style>\s*", re.S)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    # Drop the XML prolog and doctype so the SVG can sit inline in the page, and its <style>
    # (the page's Content-Security-Policy refuses inline style sheets; results.css has its rule).
    return _STYLE_ELEMENT.sub("", text[text.index("<svg") :])


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
    # A model against itself is grey, not white: white is a 0.50 coin flip on this scale.
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad="#e0e0e0")
    image = axes.imshow(values, cmap=cmap, vmin=0, vmax=1)
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


# Where a point's label may go, in offset points (x, y) from the point, in order of preference.
LABEL_SPOTS = [
    (dx, dy)
    for step in range(16)
    for dy in ((0,) if step == 0 else (9 * step, -9 * step))
    for dx in (6, -6)
]


def _text_box(label: Any, renderer: Any) -> Any:
    # An annotation's own extent includes its leader line; placement is about the words.
    label.update_positions(renderer)
    return Text.get_window_extent(label, renderer)


def _place_labels(figure: Figure, axes: Any, labels: list[Any]) -> None:
    """Put each point's label at the first spot beside it that stays inside the plot and
    covers no other label or point, else at the spot covering least (greedy, top to bottom;
    models often sit close on both axes, and matplotlib places annotations without looking
    at each other or at the plot's edges)."""
    renderer = figure.canvas.get_renderer()
    inside = axes.get_window_extent(renderer)
    radius = 5 * figure.dpi / 72
    dots = [axes.transData.transform(label.xy) for label in labels]
    placed: list[Any] = []

    def overlap(box: Any, x0: float, y0: float, x1: float, y1: float) -> float:
        return max(0.0, min(box.x1, x1) - max(box.x0, x0)) * max(
            0.0, min(box.y1, y1) - max(box.y0, y0)
        )

    for k in sorted(range(len(labels)), key=lambda i: -dots[i][1]):
        label = labels[k]
        best: tuple[float, tuple[int, int]] | None = None
        for dx, dy in LABEL_SPOTS:
            label.xyann = (dx, dy)
            label.set_ha("left" if dx > 0 else "right")
            box = _text_box(label, renderer)
            if box.x0 < inside.x0 or box.x1 > inside.x1 or box.y0 < inside.y0:
                continue
            if box.y1 > inside.y1:
                continue
            covered = sum(overlap(box, o.x0, o.y0, o.x1, o.y1) for o in placed) + sum(
                overlap(box, x - radius, y - radius, x + radius, y + radius)
                for j, (x, y) in enumerate(dots)
                if j != k
            )
            if best is None or covered < best[0]:
                best = (covered, (dx, dy))
            if covered == 0:
                break
        dx, dy = best[1] if best is not None else (6, 0)
        label.xyann = (dx, dy)
        label.set_ha("left" if dx > 0 else "right")
        placed.append(_text_box(label, renderer))


def _dollars(value: float, _position: int) -> str:
    return f"${value:.3g}" if abs(value) < 1 else f"${value:,.0f}"


def tradeoff_chart(
    points: list[dict[str, Any]],
    *,
    x_label: str,
    log_x: bool = False,
    missing: list[str] | None = None,
    missing_reason: str = "no price",
) -> str:
    """Rating against a cost (dollars, milliseconds), Pareto-efficient models marked and joined.

    `missing` names rated models without a value on the x axis: they are listed under the plot
    (marked `missing_reason`) rather than silently left out."""
    # Taller for many models, so that their labels have room to stack.
    figure, axes = plt.subplots(figsize=(6, 4 + 0.2 * max(0, len(points) - 6)))
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
    logarithmic = log_x and (xs > 0).all() and len(xs) > 1
    if logarithmic:
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axes.xaxis.set_minor_formatter(NullFormatter())
    if "USD" in x_label:
        axes.xaxis.set_major_formatter(FuncFormatter(_dollars))
    axes.margins(x=0.08, y=0.1)
    if not logarithmic and xs.min() >= 0:
        # Costs and latencies are never negative: the axis starts at zero (all-zero costs
        # otherwise get an axis from -0.04 to 0.04).
        axes.set_xlim(left=0, right=xs.max() * 1.1 if xs.max() > 0 else 1.0)
    if missing:
        axes.text(
            0,
            -0.16,
            f"{missing_reason} (not plotted): " + ", ".join(missing),
            transform=axes.transAxes,
            fontsize=8,
            color="#666666",
            va="top",
        )
    labels = []
    for p in points:
        labels.append(
            axes.annotate(
                p["model"],
                (p["x"], p["rating"]),
                textcoords="offset points",
                xytext=(6, 0),
                va="center",
                fontsize=8,
                # A leader line shows which point a label nudged off its point belongs to.
                arrowprops={"arrowstyle": "-", "color": "#aaaaaa", "lw": 0.6, "shrinkB": 3},
            )
        )
    axes.set_xlabel(x_label)
    axes.set_ylabel("rating")
    axes.grid(alpha=0.3)
    # Above the plot, where it cannot cover a point or its label.
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncol=2, fontsize=8, frameon=False)
    _place_labels(figure, axes, labels)
    return _svg(figure)
