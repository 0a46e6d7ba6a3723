"""The dashboard figures, built from the artifacts of real training runs."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from mimo.app.plots import samples as grid
from mimo.app.plots.confusion import class_labels, confusion_figure, normalise_rows
from mimo.app.plots.curves import history_heads, learning_curves_figure
from mimo.config import DEFAULT_REGISTRY_DIR as SOURCE_REGISTRY  # the shipped runs
from mimo.runs.registry import Registry
from mimo.runs.view import load_run_view
from mimo.tasks import task


@pytest.fixture(scope="module")
def views():
    """The loaded artifacts of the active colour and sum runs."""
    registry = Registry(SOURCE_REGISTRY)
    loaded = {}
    for model in ("color", "sum"):
        run = registry.active_run(model)
        loaded[model] = load_run_view(run.path, run.run_id)
        assert loaded[model].problems == []
    return loaded


def _correct(samples: dict, model: str) -> np.ndarray:
    """Every head of the model right."""
    heads = task(model).head_names
    return np.logical_and.reduce([samples[f"{h}_true"] == samples[f"{h}_pred"] for h in heads])


# -- learning curves ------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["color", "sum"])
def test_curves_show_train_and_validation_for_each_head(views, model):
    history = views[model].history
    heads = ["digit", model]
    assert history_heads(history) == heads
    for metric, title in (("loss", "Loss"), ("accuracy", "Accuracy")):
        fig = learning_curves_figure({"run": history}, metric)
        assert isinstance(fig, go.Figure)
        assert len(fig.data) == 2 * len(heads)  # train + validation per head
        for trace in fig.data:
            assert isinstance(trace, go.Scatter)
        for col, head in enumerate(heads, start=1):
            axis = "x" if col == 1 else f"x{col}"
            traces = {t.name: t for t in fig.data if t.xaxis == axis}
            assert set(traces) == {"train", "validation"}
            assert list(traces["train"].y) == history[f"{head}_{metric}"]
            assert list(traces["validation"].y) == history[f"val_{head}_{metric}"]
            assert list(traces["train"].x) == history["epoch"]
            assert traces["validation"].line.dash == "dash"
        assert fig.layout.xaxis.title.text == "Epoch"
        assert fig.layout.yaxis.title.text == title
        assert fig.layout.xaxis2.title.text == "Epoch"
        dtick = fig.layout.xaxis.dtick  # whole epochs only, at most about ten ticks
        assert dtick == int(dtick) >= 1 and len(history["epoch"]) / dtick <= 10


def test_curves_overlay_runs_and_keep_each_runs_own_heads(views):
    histories = {"A": views["color"].history, "B": views["sum"].history}
    fig = learning_curves_figure(histories, "accuracy")
    # digit head for both runs, colour head only for A, sum head only for B; train + validation
    assert len(fig.data) == (2 + 1 + 1) * 2
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["Digit head", "Colour head", "Sum head"]
    by_axis = {}
    for trace in fig.data:
        by_axis.setdefault(trace.xaxis, set()).add(trace.name)
    assert by_axis["x"] == {"A · train", "A · validation", "B · train", "B · validation"}
    assert by_axis["x2"] == {"A · train", "A · validation"}
    assert by_axis["x3"] == {"B · train", "B · validation"}
    assert fig.layout.yaxis.tickformat == ".0%"
    with pytest.raises(ValueError):
        learning_curves_figure(histories, "f1")


# -- confusion matrices ---------------------------------------------------------------------


def test_row_normalisation_divides_by_row_totals_and_keeps_empty_rows_at_zero():
    shares = normalise_rows([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    np.testing.assert_allclose(shares, [[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]])


@pytest.mark.parametrize(
    ("model", "head", "size"), [("color", "digit", 10), ("color", "color", 2), ("sum", "sum", 19)]
)
def test_confusion_heatmap_shows_counts_or_row_shares(views, model, head, size):
    counts = np.asarray(views[model].confusion[head])
    labels = class_labels(head)
    assert counts.shape == (size, size) and len(labels) == size

    shares_fig = confusion_figure(counts, labels, normalised=True, title="t")
    counts_fig = confusion_figure(counts, labels, normalised=False)
    for fig in (shares_fig, counts_fig):
        assert len(fig.data) == 1 and isinstance(fig.data[0], go.Heatmap)
        assert fig.layout.xaxis.title.text == "Predicted"
        assert fig.layout.yaxis.title.text == "True"
        assert list(fig.data[0].x) == labels and list(fig.data[0].y) == labels
        # hover always carries the raw count
        assert np.array(fig.data[0].customdata)[..., 0].tolist() == counts.tolist()

    z = np.array(shares_fig.data[0].z)
    totals = counts.sum(axis=1)
    np.testing.assert_allclose(z[totals > 0].sum(axis=1), 1.0)
    np.testing.assert_allclose(z, counts / np.maximum(totals, 1)[:, None])
    assert shares_fig.data[0].zmax == 1
    assert np.array(counts_fig.data[0].z).tolist() == counts.tolist()
    assert counts_fig.data[0].zmax == counts.max()


def test_color_confusion_is_labelled_with_color_names():
    assert class_labels("color") == ["red", "green"]
    with pytest.raises(ValueError):
        confusion_figure([[1, 2, 3], [4, 5, 6]])


# -- sample grid ----------------------------------------------------------------------------


def _scatter(fig, name):
    return next(t for t in fig.data if isinstance(t, go.Scatter) and t.name == name)


def _decoded_grid(fig) -> np.ndarray:
    uri = fig.data[0].source
    png = base64.b64decode(uri.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize("model", ["color", "sum"])
def test_grid_colors_each_sample_by_whether_every_head_is_right(views, model):
    samples = views[model].samples
    correct = _correct(samples, model)
    cards = grid.sample_cards(samples, model)
    assert [c.correct for c in cards] == correct.tolist()

    fig = grid.samples_grid_figure(samples, model, limit=None)
    assert isinstance(fig.data[0], go.Image)
    shown_right = [p for p, _ in _scatter(fig, grid.CORRECT_NAME).customdata]
    shown_wrong = [p for p, _ in _scatter(fig, grid.WRONG_NAME).customdata]
    assert shown_right == np.flatnonzero(correct).tolist()
    assert shown_wrong == np.flatnonzero(~correct).tolist()
    assert len(fig.layout.annotations) == len(samples["image"])

    # The frame of every tile in the composite is green or red as the data says.
    image = _decoded_grid(fig)[:: grid.SCALE, :: grid.SCALE]
    np.testing.assert_array_equal(image, grid.grid_image(cards, 10))
    for slot, right in enumerate(correct):
        x, y = grid.tile_origin(slot, 10)
        expected = grid.CORRECT_RGB if right else grid.WRONG_RGB
        assert tuple(image[y, x]) == expected
        assert tuple(image[y + grid.TILE - 1, x + grid.TILE - 1]) == expected


def test_color_samples_are_painted_in_their_color(views):
    samples = views["color"].samples
    cards = grid.sample_cards(samples, "color")
    for card, grey, color in zip(cards, samples["image"], samples["color_in"], strict=True):
        np.testing.assert_array_equal(card.image[..., int(color)], grey)
        assert card.image[..., 1 - int(color)].max() == 0 and card.image[..., 2].max() == 0
    truth = zip(cards, samples["digit_true"], samples["color_true"], strict=True)
    for card, digit, color in truth:
        assert card.caption.startswith(f"true {digit} {('red', 'green')[color]}<br>pred ")


def test_sum_captions_show_the_number_and_the_sum(views):
    samples = views["sum"].samples
    cards = grid.sample_cards(samples, "sum")
    for i in (0, len(cards) - 1):
        d, n, s = samples["digit_true"][i], samples["number"][i], samples["sum_true"][i]
        assert cards[i].caption.startswith(f"{d} + {n} = {s}<br>pred ")
        assert f"sum {s}" in cards[i].details and f"number {n}" in cards[i].details
        assert f"{samples['digit_confidence'][i]:.0%}" in cards[i].caption


@pytest.mark.parametrize("model", ["color", "sum"])
def test_mistakes_only_keeps_exactly_the_mistakes(views, model):
    samples = views[model].samples
    correct = _correct(samples, model)
    assert (~correct).any()
    fig = grid.samples_grid_figure(samples, model, mistakes_only=True, limit=None)
    assert len(_scatter(fig, grid.CORRECT_NAME).customdata or ()) == 0
    positions = [p for p, _ in _scatter(fig, grid.WRONG_NAME).customdata]
    assert positions == np.flatnonzero(~correct).tolist()

    limited = grid.samples_grid_figure(samples, model, mistakes_only=True, limit=5)
    assert [p for p, _ in _scatter(limited, grid.WRONG_NAME).customdata] == positions[:5]


def test_mistakes_only_on_a_sample_without_mistakes_says_so(views):
    samples = views["color"].samples
    keep = _correct(samples, "color")
    assert keep.any()
    only_right = {k: v[keep] for k, v in samples.items()}
    fig = grid.samples_grid_figure(only_right, "color", mistakes_only=True)
    assert len(fig.data) == 0
    assert "No mistakes" in fig.layout.annotations[0].text
    everything = grid.samples_grid_figure(only_right, "color")
    assert len(_scatter(everything, grid.CORRECT_NAME).customdata) == min(30, keep.sum())
