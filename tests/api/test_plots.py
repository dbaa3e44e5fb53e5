"""The results page's charts: readable however the models fall (no database)."""

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from research.results import plots


def points(n: int, *, seed: int = 1) -> list[dict]:
    rng = np.random.default_rng(seed)
    names = [
        f"provider-{k}/model-family-{k}-instruct-2024" if k % 3 == 0 else f"model-{k}"
        for k in range(n)
    ]
    ratings = rng.normal(1000, 60, n)
    return [
        {"model": name, "rating": r, "ci_low": r - 30, "ci_high": r + 30, "x": x}
        for name, r, x in zip(names, ratings, rng.uniform(0.1, 0.3, n), strict=True)
    ]


def label_boxes(monkeypatch, chart_points: list[dict]) -> tuple[list, object]:
    """Run tradeoff_chart and keep the placed labels' boxes and the plot's box, in pixels."""
    seen: dict = {}
    place = plots._place_labels

    def spy(figure, axes, labels):
        place(figure, axes, labels)
        renderer = figure.canvas.get_renderer()
        seen["boxes"] = [plots._text_box(label, renderer) for label in labels]
        seen["inside"] = axes.get_window_extent(renderer)

    monkeypatch.setattr(plots, "_place_labels", spy)
    plots.tradeoff_chart(chart_points, x_label="cost per 1,000 prompts (USD)", log_x=True)
    return seen["boxes"], seen["inside"]


@pytest.mark.parametrize("n", [2, 5, 12])
def test_tradeoff_labels_stay_inside_the_plot_and_never_overlap(monkeypatch, n):
    boxes, inside = label_boxes(monkeypatch, points(n))
    assert len(boxes) == n
    for box in boxes:
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1
        assert inside.y0 <= box.y0 and box.y1 <= inside.y1
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)


def test_models_at_the_same_point_still_get_separate_labels(monkeypatch):
    same = [
        {**p, "x": 0.2, "rating": 1000.0, "ci_low": 970.0, "ci_high": 1030.0} for p in points(4)
    ]
    boxes, _ = label_boxes(monkeypatch, same)
    assert len({(round(b.x0), round(b.y0)) for b in boxes}) == 4


def test_cost_axis_reads_in_dollars_and_every_model_is_named():
    svg = plots.tradeoff_chart(points(5), x_label="cost per 1,000 prompts (USD)", log_x=True)
    ticks = re.findall(r">\$([0-9.,]+)<", svg)
    assert ticks and all(float(t.replace(",", "")) > 0 for t in ticks)
    for p in points(5):
        assert f">{p['model']}<" in svg


def test_heatmap_greys_out_a_model_against_itself_instead_of_a_coin_flip_white():
    matrix = {"models": ["x", "y"], "win_probability": [[None, 0.5], [0.5, None]]}
    svg = plots.heatmap_chart(matrix)
    assert ">0.50<" in svg
    encoded = re.search(r'href="data:image/png;base64,([^"]+)"', svg).group(1)
    cells = Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB")
    width, height = cells.size
    centres = [cells.getpixel((x * width // 4, y * height // 4)) for x in (1, 3) for y in (1, 3)]
    # Two cells (a model against itself) grey, two (a 0.50 coin flip) near white.
    assert sorted(centres).count((224, 224, 224)) == 2
    assert sum(min(c) > 240 for c in centres) == 2
