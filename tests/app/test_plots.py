"""The dashboard figures, built from the artifacts of real training runs."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from mimo.app.plots import samples as grid
from mimo.app.plots.confusion import (
    CELL_TRACE,
    class_labels,
    confusion_figure,
    normalise_rows,
    selected_cell,
)
from mimo.app.plots.curves import (
    ERROR_FLOOR,
    MIN_ACCURACY_SPAN,
    history_heads,
    learning_curves_figure,
    learning_rate_figure,
    smooth,
)
from mimo.app.plots.projector import color_choices, projector_figure, selected_example
from mimo.config import DEFAULT_REGISTRY_DIR as SOURCE_REGISTRY  # the shipped runs
from mimo.runs import embedding, examples
from mimo.runs.registry import Registry
from mimo.runs.view import load_run_view
from mimo.tasks import task
from tests.support import FULL_RECIPE_RUNS


@pytest.fixture(scope="module")
def views():
    """The loaded artifacts of a 40-epoch colour and sum run trained from scratch before the
    learning rate was recorded (tests.support.FULL_RECIPE_RUNS)."""
    registry = Registry(SOURCE_REGISTRY)
    loaded = {}
    for run_id in FULL_RECIPE_RUNS:
        run = registry.run(run_id)
        model = run.model
        loaded[model] = load_run_view(run.path, run.run_id)
        assert loaded[model].problems == []
    return loaded


@pytest.fixture(scope="module")
def extras():
    """model -> (Examples, Embedding) of the active runs."""
    registry = Registry(SOURCE_REGISTRY)
    found = {}
    for model in ("color", "sum"):
        run = registry.active_run(model)
        found[model] = (examples.read(run.path, model), embedding.read(run.path))
    return found


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
    assert fig.layout.yaxis.tickformat == ".2%"
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
        assert isinstance(fig.data[0], go.Heatmap) and [t.name for t in fig.data[1:]] == [
            CELL_TRACE
        ]
        assert fig.layout.xaxis.title.text == "Predicted"
        assert fig.layout.yaxis.title.text == "True"
        assert list(fig.data[0].x) == labels and list(fig.data[0].y) == labels
        # hover (on the clickable cells) always carries the raw count
        hover_counts = np.array([row[2] for row in fig.data[1].customdata]).reshape(size, size)
        assert hover_counts.tolist() == counts.tolist()

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


# -- the overlay's views --------------------------------------------------------------------


def _main(fig):
    """The traces drawn as curves (not the faint raw values behind smoothed ones)."""
    return [t for t in fig.data if t.hoverinfo != "skip"]


def test_the_error_view_is_one_minus_accuracy_on_a_log_scale(views):
    history = views["color"].history
    fig = learning_curves_figure({"run": history}, "error")
    traces = {(t.xaxis, t.name): t for t in _main(fig)}
    digit = traces[("x", "validation")]
    expected = [max(1 - a, ERROR_FLOOR) for a in history["val_digit_accuracy"]]
    np.testing.assert_allclose(digit.y, expected)
    # The colour head's validation accuracy reaches 100%: drawn at the floor, not lost.
    assert min(traces[("x2", "validation")].y) == ERROR_FLOOR
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.tickformat == ".2%"
    low, high = fig.layout.yaxis.range
    assert high - low >= 1  # at least a decade


def test_smoothing_is_a_debiased_moving_average_with_the_raw_values_behind(views):
    history = views["sum"].history
    assert smooth([1, 1, 1], 0.9) == pytest.approx([1, 1, 1])  # debiased: no pull towards 0
    assert smooth([0, 1], 0.5) == pytest.approx([0, 2 / 3])
    assert smooth([3, 4], 0) == [3, 4]
    with pytest.raises(ValueError):
        smooth([1], 1.0)
    fig = learning_curves_figure({"run": history}, "accuracy", smoothing=0.6)
    drawn = next(t for t in _main(fig) if t.name == "validation" and t.xaxis == "x")
    np.testing.assert_allclose(drawn.y, smooth(history["val_digit_accuracy"], 0.6))
    raw = [t for t in fig.data if t.hoverinfo == "skip"]
    assert len(raw) == len(_main(fig)) and all(t.opacity < 1 for t in raw)
    assert "smoothed (0.6)" in fig.layout.title.text


def test_the_epoch_window_leaves_epoch_one_out_of_the_accuracy_axis(views):
    history = views["color"].history
    fig = learning_curves_figure({"run": history}, "accuracy", epochs=(2, len(history["epoch"])))
    for trace in _main(fig):
        assert trace.x[0] == 2
    low, _ = fig.layout.yaxis.range
    # Epoch 1 (about 32% right in training) no longer sets the axis; epoch 2 does.
    assert history["digit_accuracy"][0] < 0.5 < low
    assert low == pytest.approx(min(history["digit_accuracy"][1:]), abs=0.02)
    last = learning_curves_figure({"run": history}, "loss", epochs=(31, 40))
    assert all(list(t.x) == list(range(31, 41)) for t in _main(last))
    assert tuple(last.layout.xaxis.range) == (30.5, 40.5)


def test_a_one_epoch_run_gets_an_axis_whose_ticks_can_differ(views):
    one = {k: v[:1] for k, v in views["sum"].history.items()}
    fig = learning_curves_figure({"run": one}, "accuracy")
    for axis in (fig.layout.yaxis, fig.layout.yaxis2):
        low, high = axis.range
        assert high - low >= MIN_ACCURACY_SPAN and axis.tickformat == ".2%"
        assert high <= 1.0 + MIN_ACCURACY_SPAN
    assert tuple(fig.layout.xaxis.range) == (0.5, 1.5) and fig.layout.xaxis.dtick == 1


def test_runs_get_their_own_colours_and_splits_their_own_dash(views):
    histories = {
        "A": views["color"].history,
        "B": views["color"].history,
        "C": views["sum"].history,
    }
    fig = learning_curves_figure(histories, "accuracy")
    colors = {t.name.split(" · ")[0]: t.line.color for t in fig.data}
    assert len(set(colors.values())) == 3
    for trace in fig.data:
        assert trace.line.dash == ("dash" if trace.name.endswith("validation") else "solid")
    shown = [t.name for t in fig.data if t.showlegend]
    assert len(shown) == len(set(shown)) == 6  # one legend entry per run and split


def test_the_learning_rate_is_drawn_only_where_a_run_recorded_it(views):
    history = views["color"].history
    assert "learning_rate" not in history  # the shipped runs predate it
    assert learning_rate_figure({"old": history}) is None
    rates = [3e-4 + 2.7e-3 * min(1, e) for e in range(5)]
    recorded = {"epoch": [1, 2, 3, 4, 5], "learning_rate": rates, "digit_loss": [1] * 5}
    fig = learning_rate_figure({"old": history, "new": recorded})
    assert [t.name for t in fig.data] == ["new"]
    assert list(fig.data[0].y) == rates and fig.layout.yaxis.type == "log"


# -- clicking a confusion cell --------------------------------------------------------------


def test_every_confusion_cell_can_be_clicked_and_says_which_pair_it_is(views):
    counts = np.asarray(views["sum"].confusion["digit"])
    fig = confusion_figure(counts, class_labels("digit"))
    cells = next(t for t in fig.data if t.name == CELL_TRACE)
    assert fig.data[0].hoverinfo == "skip"  # the heatmap leaves hover and clicks to the cells
    assert len(cells.customdata) == 100
    for (true, pred, n, share), x, y in zip(cells.customdata, cells.x, cells.y, strict=True):
        assert (x, y) == (str(pred), str(true)) and n == counts[true, pred]
        assert share == pytest.approx(counts[true, pred] / counts[true].sum())
    assert cells.marker.opacity == 0 and cells.selected.marker.opacity > 0
    event = {"selection": {"points": [{"x": "9", "y": "4", "customdata": [4, 9, 7, 0.007]}]}}
    assert selected_cell(event) == (4, 9)
    assert selected_cell({"selection": {"points": []}}) is None
    assert selected_cell(None) is None
    # A figure given numpy arrays sends a typed array's row as an object.
    assert selected_cell({"selection": {"points": [{"customdata": {"0": 3, "1": 5}}]}}) == (3, 5)
    text = np.array(confusion_figure(counts, class_labels("digit")).data[0].text)
    assert "0.00" not in text  # a non-empty cell never reads as nothing
    assert (text[counts == 0] == "").all() and "<.01" in text


# -- the embedding projector ----------------------------------------------------------------


@pytest.mark.parametrize("model", ["color", "sum"])
def test_the_projector_colours_points_by_digit_pairing_or_correctness(extras, model):
    found, embedded = extras[model]
    assert list(color_choices(model)) == ["digit", "paired", "correct"]
    by_digit = projector_figure(embedded, found, "tsne", "digit")
    assert [t.name for t in by_digit.data] == [str(d) for d in range(10)]
    assert sum(len(t.x) for t in by_digit.data) == len(embedded.index)
    for trace in by_digit.data:
        indices = [row[0] for row in trace.customdata]
        assert (found.digits[indices] == int(trace.name)).all()
    paired = projector_figure(embedded, found, "pca", "paired")
    names = task(model).pairing.value_names or tuple(str(v) for v in range(10))
    assert [t.name for t in paired.data] == list(names)
    if model == "color":
        assert [t.marker.color for t in paired.data] == ["#FF4B4B", "#21C354"]
    assert "of the variance" in paired.layout.xaxis.title.text
    correct = projector_figure(embedded, found, "tsne", "correct")
    wrong = next(t for t in correct.data if t.name == "wrong")
    assert not found.right()[[row[0] for row in wrong.customdata]].any()
    point = {"selection": {"points": [{"customdata": [int(embedded.index[5])]}]}}
    assert selected_example(point) == int(embedded.index[5])
    assert selected_example({"selection": {"points": []}}) is None
    assert selected_example({"selection": {"points": [{"customdata": {"0": 9460}}]}}) == 9460
    assert isinstance(correct.data[0].customdata[0][0], int)  # sent as a list, not an array
