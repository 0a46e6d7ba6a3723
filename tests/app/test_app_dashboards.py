"""The Dashboards page, run headless with Streamlit's AppTest on a copy of the shipped registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from mimo.config import DEFAULT_REGISTRY_DIR as SOURCE_REGISTRY  # the shipped runs
from mimo.runs import artifacts, examples
from mimo.runs.registry import Registry
from mimo.runs.view import load_run_view
from tests.support import FULL_RECIPE_RUNS, ROOT

PAGE = str(ROOT / "app_pages" / "dashboards.py")
# The keyed sections of the page and the charts each must hold.
SECTIONS = {
    "runs-overlay": {"overlay_curves"},
    "run-diff": {"run_diff_fixed", "run_diff_broken"},
    "embedding": {"embedding_scatter"},
    "task-balance": {"balance_accuracy"},
    "tradeoff": {"tradeoff_scatter"},
}


# The shipped multi-task lab runs (a digit-only and a multi-task run per model, 6 epochs; the
# 80-epoch runs are named -multitask too), the runs started from the other model's run, and
# their fine-tuned children (-strokes, then -canvas...).
LAB_RUNS = ("*-digitonly", "*-multitask", "*-fromsum", "*-fromcolor", "*-strokes", "*-canvas*")


def copy_shipped_registry(tmp_path, monkeypatch, without=()) -> Registry:
    """A writable copy of the shipped registry, less the runs matching `without`, made the page's
    registry through MIMO_REGISTRY."""
    root = tmp_path / "registry"
    ignored = shutil.ignore_patterns(".tmp", "jobs", "*.lock", *without)
    shutil.copytree(SOURCE_REGISTRY, root, ignore=ignored)
    monkeypatch.setenv("MIMO_REGISTRY", str(root))
    monkeypatch.delenv("MIMO_RETRAIN", raising=False)
    monkeypatch.delenv("MIMO_RETRAIN_PASSWORD", raising=False)
    return Registry(root)


@pytest.fixture()
def registry(tmp_path, monkeypatch) -> Registry:
    """The shipped registry without the lab runs, FULL_RECIPE_RUNS active: full-length runs of
    the full recipe, none single-task, none with a gradient-agreement record (the tests add what
    they need)."""
    registry = copy_shipped_registry(tmp_path, monkeypatch, without=LAB_RUNS)
    for run_id in FULL_RECIPE_RUNS:
        registry.activate(run_id)
    return registry


@pytest.fixture()
def shipped(tmp_path, monkeypatch) -> Registry:
    """The whole shipped registry, lab runs included."""
    return copy_shipped_registry(tmp_path, monkeypatch)


def open_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240).run()
    assert_no_exception(at)
    return at


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _key(element) -> str:
    return element.proto.id.rsplit("-", 1)[-1]


def charts(node) -> dict[str, dict]:
    """Plotly figures by element key (overlay_curves, confusion_digit, sample_grid...)."""
    return {_key(e): json.loads(e.proto.spec) for e in node.get("plotly_chart")}


def block(at: AppTest, key: str):
    """The container with this key, searched through the whole page."""

    def search(node):
        if getattr(node, "key", None) == key and type(node).__name__ == "Block":
            return node
        for child in getattr(node, "children", {}).values():
            found = search(child)
            if found is not None:
                return found
        return None

    found = search(at.main)
    assert found is not None, f"no container keyed {key}"
    return found


def metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    """label -> (value, delta)."""
    return {m.label: (m.value, m.proto.delta) for m in at.metric}


def copy_run(registry: Registry, run_id: str, new_id: str) -> Path:
    """A second run: the files of `run_id` under a new valid run id."""
    target = registry.runs_dir / new_id
    shutil.copytree(registry.runs_dir / run_id, target)
    info = artifacts.read_json(target, artifacts.RUN_INFO)
    info["run_id"] = new_id
    artifacts.write_json(target, artifacts.RUN_INFO, info)
    return target


def grid_indices(figure: dict) -> list[int]:
    """The test indices a sample grid shows, in order."""
    cards = [
        (position, index)
        for trace in figure["data"]
        if trace.get("name") in ("correct", "mistake")
        for position, index in trace.get("customdata") or []
    ]
    return [index for _, index in sorted(cards)]


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert_no_exception(at)
    return at


# -------------------------------------------------------------------------------------------


def test_the_active_color_run_with_two_decimals_error_counts_and_every_section(registry):
    at = open_page()
    run = registry.active_run("color")
    expected = artifacts.read_json(run.path, artifacts.METRICS)
    assert at.selectbox(key="dash_run_color").value == run.run_id
    assert any(
        o.startswith(f"★ {run.run_id}") and o.endswith("(active)")
        for o in at.selectbox(key="dash_run_color").options
    )
    shown = metrics(at)
    wrong = round((1 - expected["digit_accuracy"]) * 10_000)
    assert shown["Digit accuracy"] == (
        f"{100 * expected['digit_accuracy']:.2f}%",
        f"{wrong} of 10,000 wrong",
    )
    assert shown["Colour accuracy"] == ("100.00%", "0 of 10,000 wrong")
    assert shown["Parameters"][0] == f"{run.info['params']:,}"
    assert not at.warning
    for key, needed in SECTIONS.items():
        assert needed <= set(charts(block(at, key))), key
    assert {"confusion_digit", "confusion_color", "sample_grid"} <= set(charts(at))
    # The shipped runs recorded no gradient agreement, and none of them is single-task: the
    # lab says so, and which command trains the missing run.
    balance = block(at, "task-balance")
    notes = " ".join(i.value for i in balance.info)
    assert "this run did not record it" in notes and "No pair of color runs" in notes
    config = f"runs/{run.run_id}/config.json --loss-weights"
    assert any(config in c.value and "digit=1,color=0" in c.value for c in balance.code)
    assert at.expander[-1].label == "Architecture"
    summary = at.code[-1].value
    assert f"Total params: {run.info['params']:,} (the model's weights)" in summary
    # The run-details tables have no empty header row.
    details = [t for t in at.table if t.proto.hide_header]
    assert len(details) == 3 and "Training-set size" in details[2].value.index


def test_the_sum_model_shows_every_section_too(registry):
    at = open_page()
    at.radio(key="dash_model").set_value("sum").run()
    assert_no_exception(at)
    run = registry.active_run("sum")
    expected = artifacts.read_json(run.path, artifacts.METRICS)
    assert at.selectbox(key="dash_run_sum").value == run.run_id
    shown = metrics(at)
    assert shown["Sum accuracy"][0] == f"{100 * expected['sum_accuracy']:.2f}%"
    assert shown["Consistency"][0] == f"{100 * expected['consistency']:.2f}%" != "100.00%"
    assert "Colour accuracy" not in shown
    for key, needed in SECTIONS.items():
        assert needed <= set(charts(block(at, key))), key
    figures = charts(at)
    assert np.array(figures["confusion_sum"]["data"][0]["z"]).shape == (19, 19)
    assert "confusion_color" not in figures
    assert not at.warning


def test_a_link_from_a_predict_card_opens_its_run_once(registry):
    other = [r.run_id for r in registry.list_runs("sum")][-1]
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params["model"] = "sum"
    at.query_params["run"] = other
    at.run()
    assert_no_exception(at)
    assert at.radio(key="dash_model").value == "sum"
    assert at.selectbox(key="dash_run_sum").value == other
    at.radio(key="dash_model").set_value("color").run()  # the user's choice then stands
    assert_no_exception(at)
    assert at.radio(key="dash_model").value == "color" and not at.warning


def test_two_selected_runs_share_the_curves_and_their_settings_are_diffed(registry):
    active = registry.active_run("color").run_id
    other = next(r.run_id for r in registry.list_runs("color") if r.run_id != active)
    at = open_page()
    at.multiselect(key="dash_runs_color").set_value([active, other]).run()
    assert_no_exception(at)
    overlay = charts(block(at, "runs-overlay"))["overlay_curves"]
    names = {t["name"] for t in overlay["data"]}
    for run_id in (active, other):
        assert {f"{run_id} · train", f"{run_id} · validation"} <= names
    colors = {t["name"].split(" · ")[0]: t["line"]["color"] for t in overlay["data"]}
    assert colors[active] != colors[other]
    assert {t["line"]["dash"] for t in overlay["data"]} == {"solid", "dash"}

    settings = next(t.value for t in at.table if "Learning rate (peak)" in t.value.index)
    assert list(settings.columns) == ["≠", active, other]
    for title in ("Learning rate (peak)", "Batch size", "Seed", "Augmentation"):
        assert settings.loc[title, "≠"] == ""  # the same in both runs
    assert settings.loc["Epochs", "≠"] == "≠"
    results = next(t.value for t in at.table if "Digit accuracy" in t.value.index)
    first = artifacts.read_json(registry.run(other).path, artifacts.METRICS)["digit_accuracy"]
    assert results.loc["Digit accuracy", other] == f"{100 * first:.2f}%"
    assert results.loc["Digit errors", other] == f"{round((1 - first) * 10_000)} of 10,000 wrong"


def test_the_curve_controls_change_the_view_the_window_and_the_smoothing(registry):
    at = open_page()
    default = charts(at)["overlay_curves"]
    assert default["layout"]["yaxis"]["type"] == "log"  # the error view first
    assert all(t["x"][0] == 2 for t in default["data"])  # from epoch 2
    at.radio(key="dash_curve_view").set_value("accuracy").run()
    at.radio(key="dash_window").set_value("last").run()
    at.slider(key="dash_smoothing").set_value(0.5).run()
    assert_no_exception(at)
    figure = charts(at)["overlay_curves"]
    longest = max(t["x"][-1] for t in figure["data"])
    assert all(t["x"][0] == longest - 9 for t in figure["data"])
    assert figure["layout"]["yaxis"]["tickformat"] == ".2%"
    assert "smoothed (0.5)" in figure["layout"]["title"]["text"]
    assert any("none of these runs recorded it" in c.value for c in at.caption)


def test_normalise_toggle_switches_between_shares_and_counts(registry):
    at = open_page()
    counts = np.array(
        artifacts.read_json(registry.active_run("color").path, artifacts.CONFUSION)["digit"]
    )
    z = np.array(charts(at)["confusion_digit"]["data"][0]["z"])
    np.testing.assert_allclose(z, counts / counts.sum(axis=1, keepdims=True))

    at.toggle(key="dash_normalise").set_value(False).run()
    assert_no_exception(at)
    assert charts(at)["confusion_digit"]["data"][0]["z"] == counts.tolist()


def test_picking_a_confusion_cell_opens_exactly_its_test_images(registry):
    run = registry.active_run("sum")
    found = examples.read(run.path, "sum")
    at = open_page()
    at.radio(key="dash_model").set_value("sum").run()
    picker = at.selectbox(key="dash_cell_sum")
    assert picker.value is None and "confusion_cell_grid" not in charts(at)
    cell = picker.options[1]  # the most frequent confusion comes first
    head, true, pred = next(c for c in _cells(found) if _words_match(cell, c))
    picker.select_index(1).run()
    assert_no_exception(at)
    grid = charts(at)["confusion_cell_grid"]
    assert grid_indices(grid) == found.cell(head, true, pred).tolist()
    assert "all" in grid["layout"]["title"]["text"]


def _cells(found):
    truth, pred = found.rows["digit_true"], found.rows["digit_pred"]
    counts = {}
    for t, p in zip(truth, pred, strict=True):
        if t != p:
            counts[(int(t), int(p))] = counts.get((int(t), int(p)), 0) + 1
    return [("digit", t, p) for (t, p), _ in sorted(counts.items(), key=lambda kv: -kv[1])]


def _words_match(option: str, cell) -> bool:
    head, true, pred = cell
    return option.startswith(f"Digit: true {true}, predicted {pred} ")


def test_the_sample_grid_is_a_random_sample_and_says_the_true_counts(registry):
    run = registry.active_run("color")
    found = examples.read(run.path, "color")
    at = open_page()
    grid = charts(at)["sample_grid"]
    shown = grid_indices(grid)
    assert len(shown) == 30 and set(shown) <= set(found.sample_index.tolist())
    assert "drawn at random" in grid["layout"]["title"]["text"]
    counts = f"{found.wrong_count():,} of 10,000 test digits wrong"
    assert any(counts in c.value for c in at.caption)

    at.toggle(key="dash_mistakes_only").set_value(True).run()
    at.slider(key="dash_sample_limit").set_value(100).run()
    assert_no_exception(at)
    grid = charts(at)["sample_grid"]
    shown = grid_indices(grid)
    assert len(shown) == min(100, found.wrong_count())  # as many as asked, or all there are
    assert not found.right()[shown].any()
    assert f"of the run's {found.wrong_count():,} mistakes" in grid["layout"]["title"]["text"]
    before = shown
    click(at, "dash_sample_redraw")
    if found.wrong_count() > 100:
        assert grid_indices(charts(at)["sample_grid"]) != before


def test_the_run_diff_shows_what_run_b_fixed_and_broke(registry):
    runs = [r.run_id for r in registry.list_runs("color")]
    at = open_page()
    a_id, b_id = at.selectbox(key="dash_diff_a").value, at.selectbox(key="dash_diff_b").value
    assert b_id == runs[0] and a_id == runs[1]
    a, b = (examples.read(registry.run(r).path, "color") for r in (a_id, b_id))
    diff = examples.diff(a, b)
    shown = metrics(at)
    assert shown["Fixed by B"][0] == str(len(diff.fixed))
    assert shown["Broken by B"][0] == str(len(diff.broken))
    assert shown["Net change"][0] == f"{diff.net:+}"
    section = charts(block(at, "run-diff"))
    assert grid_indices(section["run_diff_fixed"]) == diff.fixed[:40].tolist()
    assert grid_indices(section["run_diff_broken"]) == diff.broken[:40].tolist()
    hover = section["run_diff_fixed"]["data"][1]["hovertext"][0]
    assert "run A: digit" in hover


def test_making_a_run_active_needs_a_confirmation_and_can_be_rolled_back(registry):
    active = registry.active_run("color").run_id
    other = next(r.run_id for r in registry.list_runs("color") if r.run_id != active)
    at = open_page()
    at.selectbox(key="dash_run_color").set_value(other).run()
    click(at, "dash_activate")
    assert "Make " + other in at.warning[0].value
    assert registry.active_ids()["color"] == active  # not before the confirmation
    click(at, "dash_confirm")
    assert registry.active_ids()["color"] == other
    assert f"{other} is now the active colour model" in at.success[0].value
    assert at.button(key="dash_rollback").label == f"Roll back to {active}"

    click(at, "dash_rollback")
    click(at, "dash_cancel")
    assert registry.active_ids()["color"] == other
    click(at, "dash_rollback")
    click(at, "dash_confirm")
    assert registry.active_ids()["color"] == active
    assert "Rolled back" in at.success[0].value


def test_deleting_a_run_needs_a_confirmation_and_the_active_run_cannot_be(registry):
    active = registry.active_run("sum").run_id
    doomed = copy_run(registry, active, "sum-20200101-000000-doomed")
    at = open_page()
    at.radio(key="dash_model").set_value("sum").run()
    assert at.button(key="dash_delete").disabled  # the active run
    at.selectbox(key="dash_run_sum").set_value(doomed.name).run()
    click(at, "dash_delete")
    assert "cannot be undone" in at.warning[0].value and doomed.is_dir()
    click(at, "dash_confirm")
    assert not doomed.exists()
    assert at.selectbox(key="dash_run_sum").value == active
    assert doomed.name not in at.selectbox(key="dash_run_sum").options
    assert f"Deleted {doomed.name}" in at.success[0].value


def test_a_note_and_tags_are_saved_and_shown(registry):
    run_id = registry.active_run("color").run_id
    at = open_page()
    at.text_area(key=f"dash_note_{run_id}").input("The recipe run.")
    at.text_input(key=f"dash_tags_{run_id}").input("recipe, best")
    at.button(key=f"FormSubmitter:dash_notes_{run_id}-Save the note and tags").click().run()
    assert_no_exception(at)
    assert registry.notes(run_id).tags == ("recipe", "best")
    assert any("The recipe run." in m.value for m in at.markdown)
    assert any("#recipe #best" in o for o in at.selectbox(key="dash_run_color").options)


def test_the_retraining_lock_covers_the_registry_actions(registry, monkeypatch):
    monkeypatch.setenv("MIMO_RETRAIN_PASSWORD", "open sesame")
    at = open_page()
    assert not [b for b in at.button if _key(b) == "dash_activate"]
    at.text_input(key="dash_password_attempt").input("wrong")
    at.button(key="FormSubmitter:dash_unlock-Unlock").click().run()
    assert "not right" in at.error[0].value
    at.text_input(key="dash_password_attempt").input("open sesame")
    at.button(key="FormSubmitter:dash_unlock-Unlock").click().run()
    assert_no_exception(at)
    assert at.button(key="dash_activate").disabled  # there, for the active run: disabled

    monkeypatch.setenv("MIMO_RETRAIN", "off")
    at = open_page()
    assert any("switched off" in i.value for i in at.info)
    assert not [b for b in at.button if _key(b) in ("dash_activate", "dash_delete")]


def test_a_run_from_before_the_new_artifacts_is_completed_when_first_opened(registry, tmp_path):
    """Its data file is not there (as without ../shared): the offline digits stand in, and the
    page says so."""
    run_id = "sum-20200101-000000-old"
    old = copy_run(registry, registry.active_run("sum").run_id, run_id)
    for name in (artifacts.PREDICTIONS, artifacts.EMBEDDING):
        (old / name).unlink()
    config = artifacts.read_json(old, artifacts.CONFIG)
    config["data_path"] = str(tmp_path / "gone.npz")
    artifacts.write_json(old, artifacts.CONFIG, config)
    registry.activate(run_id)

    at = open_page()
    at.radio(key="dash_model").set_value("sum").run()
    assert_no_exception(at)
    assert (old / artifacts.PREDICTIONS).is_file() and (old / artifacts.EMBEDDING).is_file()
    assert any("not available here" in i.value and "1,000 test images" in i.value for i in at.info)
    assert "embedding_scatter" in charts(block(at, "embedding"))
    found = examples.read(old, "sum")
    assert found.n == 1000 and not found.as_evaluated


def test_a_run_with_missing_or_broken_artifacts_warns_and_shows_the_rest(registry):
    broken_id = "color-20200101-000000-broken"
    broken = copy_run(registry, registry.active_run("color").run_id, broken_id)
    (broken / artifacts.CONFUSION).unlink()
    (broken / artifacts.HISTORY).write_text("{ not json")
    (broken / artifacts.PREDICTIONS).write_bytes(b"not an npz file")
    registry.activate(broken_id)

    at = open_page()
    warnings = " ".join(w.value for w in at.warning)
    assert "confusion.json is missing" in warnings
    assert "history.json in run color-20200101-000000-broken is not valid JSON" in warnings
    infos = " ".join(i.value for i in at.info)
    assert "predictions.npz in run color-20200101-000000-broken cannot be read" in infos
    figures = charts(at)
    assert "sample_grid" in figures  # from the stored sample, which says what it is
    assert any("over-represented" in c.value for c in at.caption)
    assert not any(k.startswith("confusion_") for k in figures)
    assert "Digit accuracy" in metrics(at)
    assert "cannot be read" in " ".join(i.value for i in block(at, "embedding").info)

    (broken / artifacts.SAMPLES).write_bytes(b"not an npz file")
    (broken / artifacts.METRICS).unlink()
    at.run()
    assert_no_exception(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "samples.npz in run color-20200101-000000-broken could not be read" in warnings
    assert "metrics.json is missing" in warnings and "recorded in run.json" in warnings
    assert "sample_grid" not in charts(at)
    info = artifacts.read_json(broken, artifacts.RUN_INFO)
    assert metrics(at)["Digit accuracy"][0] == (
        f"{100 * info['test_metrics']['digit_accuracy']:.2f}%"
    )


def test_the_loader_reports_each_broken_artifact_and_keeps_the_good_ones(registry):
    run = registry.active_run("sum")
    broken = copy_run(registry, run.run_id, "sum-20200101-000000-broken")
    confusion = artifacts.read_json(broken, artifacts.CONFUSION)
    confusion["sum"] = confusion["sum"][:10]  # 10x19 instead of 19x19
    artifacts.write_json(broken, artifacts.CONFUSION, confusion)
    samples = artifacts.read_samples(broken)
    samples["sum_pred"] = samples["sum_pred"] + 19  # sums outside 0-18
    artifacts.write_samples(broken, samples)
    (broken / artifacts.ARCHITECTURE_TXT).unlink()
    artifacts.write_json(broken, artifacts.METRICS, {"n": 10, "digit_accuracy": 1.5})

    view = load_run_view(broken, "sum-20200101-000000-broken")
    problems = "\n".join(view.problems)
    assert "the sum matrix is (10, 19), expected 19x19" in problems
    assert "'sum_pred' holds values outside 0-18" in problems
    assert "architecture.txt is missing" in problems
    assert "digit accuracy 1.5 is not between 0 and 1" in problems
    assert len(view.problems) == 4
    assert view.confusion is None and view.samples is None and view.architecture is None
    assert view.metrics == run.info["test_metrics"]  # fell back to run.json
    assert view.history == artifacts.read_json(run.path, artifacts.HISTORY)


def test_an_empty_registry_gets_a_calm_message(tmp_path, monkeypatch):
    monkeypatch.setenv("MIMO_REGISTRY", str(tmp_path / "empty"))
    at = open_page()
    assert not at.warning and not at.error
    assert "no training runs" in at.info[0].value
    assert charts(at) == {}


def test_a_single_task_run_is_set_against_its_multi_task_partner(registry):
    """A single-task run (the colour head off) with the active run's settings: the lab finds
    the pair and shows both accuracies with intervals, the agreement and the digit diff."""
    from mimo.runs import agreement

    active = registry.active_run("color").run_id
    other = next(r.run_id for r in registry.list_runs("color") if r.run_id != active)
    single_id = "color-20200101-000000-single"
    single = copy_run(registry, other, single_id)  # another run's predictions: a real diff
    config = artifacts.read_json(registry.run(active).path, artifacts.CONFIG)
    weights = {"digit": 1.0, "color": 0.0}
    artifacts.write_json(single, artifacts.CONFIG, {**config, "loss_weights": weights})
    record = agreement.empty(("digit", "color"), 256, 1000)
    for epoch in (1, 2, 3):
        measured = {"norm": {"digit": 1.0, "color": 0.5}, "cosine": {"color": 0.1 * epoch}}
        agreement.append(record, epoch, {**measured, "norm_ratio": {"color": 0.5}})
    agreement.write(single, record)

    at = open_page()
    figures = charts(block(at, "task-balance"))
    pair = figures["balance_pair_accuracy"]["data"][0]
    a, b = (examples.read(registry.run(r).path, "color") for r in (single_id, active))
    assert pair["y"] == [single_id, active]
    assert pair["x"] == pytest.approx([a.right(["digit"]).mean(), b.right(["digit"]).mean()])
    for value, up, down in zip(
        pair["x"], pair["error_x"]["array"], pair["error_x"]["arrayminus"], strict=True
    ):
        assert 0 < up < 0.01 and 0 < down < 0.01 and value + up <= 1  # 10,000 test digits
    assert "Digit accuracy, multi-task minus single-task" in metrics(at)
    curves = figures["balance_pair_agreement"]["data"]
    cosine = next(t["y"] for t in curves if t["name"].startswith(single_id))
    assert cosine == pytest.approx([0.1, 0.2, 0.3])
    assert any("No gradient agreement for " + active in c.value for c in at.caption)
    diff = examples.diff(a, b, heads=["digit"])
    assert grid_indices(figures["balance_diff_fixed"]) == diff.fixed[:40].tolist()
    assert grid_indices(figures["balance_diff_broken"]) == diff.broken[:40].tolist()

    # Everywhere the run is described, its loss weights are named.
    label = next(o for o in at.selectbox(key="dash_run_color").options if single_id in o)
    assert "digit only" in label
    at.multiselect(key="dash_runs_color").set_value([active, single_id]).run()
    assert_no_exception(at)
    settings = next(t.value for t in at.table if "Loss weights" in t.value.index)
    assert settings.loc["Loss weights", "≠"] == "≠"
    assert list(settings.loc["Loss weights", [active, single_id]]) == [
        "digit 1, colour 1",
        "digit 1, colour 0",
    ]
    scatter = charts(block(at, "tradeoff"))["tradeoff_scatter"]
    hollow = next(t for t in scatter["data"] if "single-task" in t["name"])
    assert hollow["customdata"][0][:2] == [single_id, "digit 1, colour 0"]
    assert hollow["x"] == [pytest.approx(a.right(["digit"]).mean(), abs=1e-4)]


def test_the_shipped_lab_runs_answer_whether_the_second_task_helps(shipped):
    """For each model the shipped digit-only and multi-task runs make a pair: the lab shows both
    digit accuracies with intervals and both runs' gradient agreement."""
    at = open_page()
    for model in ("color", "sum"):
        if model != "color":
            at.radio(key="dash_model").set_value(model).run()
            assert_no_exception(at)
        at.selectbox(key=f"dash_run_{model}").set_value(f"{model}-20261202-170001-multitask").run()
        assert_no_exception(at)
        figures = charts(block(at, "task-balance"))
        pair = figures["balance_pair_accuracy"]["data"][0]
        assert pair["y"] == [
            f"{model}-20261202-170000-digitonly",
            f"{model}-20261202-170001-multitask",
        ]
        single, multi = (examples.read(shipped.run(run_id).path, model) for run_id in pair["y"])
        assert pair["x"] == pytest.approx(
            [single.right(["digit"]).mean(), multi.right(["digit"]).mean()]
        )
        names = {t["name"] for t in figures["balance_pair_agreement"]["data"]}
        assert any(name.startswith(f"{model}-20261202-170001-multitask") for name in names)
