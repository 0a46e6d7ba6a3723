"""The Dashboards page, run headless with Streamlit's AppTest on a copy of the shipped registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from mimo.config import DEFAULT_REGISTRY_DIR as SOURCE_REGISTRY  # the shipped runs
from mimo.runs import artifacts
from mimo.runs.registry import Registry
from mimo.runs.view import load_run_view
from tests.support import ROOT

PAGE = str(ROOT / "pages" / "dashboards.py")


@pytest.fixture()
def registry(tmp_path, monkeypatch) -> Registry:
    """A writable copy of the shipped registry, made the page's registry through MIMO_REGISTRY."""
    root = tmp_path / "registry"
    shutil.copytree(SOURCE_REGISTRY, root, ignore=shutil.ignore_patterns(".tmp", "jobs", "*.lock"))
    monkeypatch.setenv("MIMO_REGISTRY", str(root))
    return Registry(root)


def open_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert_no_exception(at)
    return at


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly figures on the page by element key (curves_loss, confusion_digit, sample_grid...)."""
    found = {}
    for element in at.get("plotly_chart"):
        key = element.proto.id.rsplit("-", 1)[-1]
        found[key] = json.loads(element.proto.spec)
    return found


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def copy_run(registry: Registry, run_id: str, new_id: str) -> Path:
    """A second run: the files of `run_id` under a new valid run id."""
    target = registry.runs_dir / new_id
    shutil.copytree(registry.runs_dir / run_id, target)
    info = artifacts.read_json(target, artifacts.RUN_INFO)
    info["run_id"] = new_id
    artifacts.write_json(target, artifacts.RUN_INFO, info)
    return target


def grid_positions(figure: dict, name: str) -> list[int]:
    trace = next(t for t in figure["data"] if t.get("name") == name)
    return [position for position, _ in trace.get("customdata") or []]


def correct_flags(run_dir: Path, model: str) -> np.ndarray:
    s = artifacts.read_samples(run_dir)
    return (s["digit_true"] == s["digit_pred"]) & (s[f"{model}_true"] == s[f"{model}_pred"])


# -------------------------------------------------------------------------------------------


def test_page_shows_the_active_color_run(registry):
    at = open_page()
    run = registry.active_run("color")
    expected = artifacts.read_json(run.path, artifacts.METRICS)
    assert at.selectbox(key="dash_run_color").value == run.run_id
    assert any(
        o.startswith(f"★ {run.run_id}") and o.endswith("(active)")
        for o in at.selectbox(key="dash_run_color").options
    )
    shown = metrics(at)
    assert shown["Digit accuracy"] == f"{100 * expected['digit_accuracy']:.1f}%"
    assert shown["Colour accuracy"] == f"{100 * expected['color_accuracy']:.1f}%"
    assert shown["Parameters"] == f"{run.info['params']:,}"
    assert not at.warning
    figures = charts(at)
    assert set(figures) == {
        "curves_loss",
        "curves_accuracy",
        "confusion_digit",
        "confusion_color",
        "sample_grid",
    }
    assert len(figures["curves_loss"]["data"]) == 4  # digit + colour head, train + validation
    assert at.expander[0].label == "Architecture"
    assert any("Total params" in c.value for c in at.code)


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


def test_mistakes_only_filter_hides_correct_predictions(registry):
    at = open_page()
    run = registry.active_run("color")
    right = correct_flags(run.path, "color")
    limit = at.slider(key="dash_sample_limit").value
    grid = charts(at)["sample_grid"]
    assert grid_positions(grid, "correct") == np.flatnonzero(right[:limit]).tolist()
    assert grid_positions(grid, "mistake") == np.flatnonzero(~right[:limit]).tolist()

    at.checkbox(key="dash_mistakes_only").check().run()
    assert_no_exception(at)
    grid = charts(at)["sample_grid"]
    assert grid_positions(grid, "correct") == []
    assert grid_positions(grid, "mistake") == np.flatnonzero(~right)[:limit].tolist()


def test_switching_to_the_sum_model(registry):
    at = open_page()
    at.radio(key="dash_model").set_value("sum").run()
    assert_no_exception(at)
    run = registry.active_run("sum")
    expected = artifacts.read_json(run.path, artifacts.METRICS)
    assert at.selectbox(key="dash_run_sum").value == run.run_id
    shown = metrics(at)
    assert shown["Sum accuracy"] == f"{100 * expected['sum_accuracy']:.1f}%"
    assert shown["Consistency"] == f"{100 * expected['consistency']:.1f}%"
    assert "Colour accuracy" not in shown
    figures = charts(at)
    assert np.array(figures["confusion_sum"]["data"][0]["z"]).shape == (19, 19)
    assert "confusion_color" not in figures


def test_comparing_two_runs(registry):
    first = registry.active_run("color")
    second_id = "color-20200101-000000-copy"
    second = copy_run(registry, first.run_id, second_id)
    changed = {**artifacts.read_json(second, artifacts.METRICS), "digit_accuracy": 0.4321}
    artifacts.write_json(second, artifacts.METRICS, changed)
    history = artifacts.read_json(second, artifacts.HISTORY)
    history["val_digit_accuracy"] = [0.5] * len(history["epoch"])
    artifacts.write_json(second, artifacts.HISTORY, history)

    at = open_page()
    at.toggle(key="dash_compare").set_value(True).run()
    assert_no_exception(at)
    at.selectbox(key=f"dash_compare_run_{first.run_id}").set_value(second_id).run()
    assert_no_exception(at)

    table = at.table[-1].value
    assert list(table.columns) == [first.run_id, second_id]
    assert table.loc["Digit accuracy", second_id] == "43.2%"
    expected_first = artifacts.read_json(first.path, artifacts.METRICS)["digit_accuracy"]
    assert table.loc["Digit accuracy", first.run_id] == f"{100 * expected_first:.1f}%"

    overlay = charts(at)["compare_accuracy"]
    names = {t["name"] for t in overlay["data"]}
    assert f"{second_id} · validation" in names and f"{first.run_id} · validation" in names
    copied = next(t for t in overlay["data"] if t["name"] == f"{second_id} · validation")
    assert copied["y"] == [0.5] * len(history["epoch"])


def test_a_run_with_missing_or_broken_artifacts_warns_and_shows_the_rest(registry):
    broken_id = "color-20200101-000000-broken"
    broken = copy_run(registry, registry.active_run("color").run_id, broken_id)
    (broken / artifacts.CONFUSION).unlink()
    (broken / artifacts.HISTORY).write_text("{ not json")
    registry.activate(broken_id)

    at = open_page()
    warnings = " ".join(w.value for w in at.warning)
    assert "confusion.json is missing" in warnings
    assert "history.json in run color-20200101-000000-broken is not valid JSON" in warnings
    figures = charts(at)
    assert "sample_grid" in figures and "curves_loss" not in figures
    assert not any(k.startswith("confusion_") for k in figures)
    assert "Digit accuracy" in metrics(at)

    (broken / artifacts.SAMPLES).write_bytes(b"not an npz file")
    (broken / artifacts.METRICS).unlink()
    at.run()
    assert_no_exception(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "samples.npz in run color-20200101-000000-broken could not be read" in warnings
    assert "metrics.json is missing" in warnings and "recorded in run.json" in warnings
    assert "sample_grid" not in charts(at)
    info = artifacts.read_json(broken, artifacts.RUN_INFO)
    assert metrics(at)["Digit accuracy"] == f"{100 * info['test_metrics']['digit_accuracy']:.1f}%"


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
