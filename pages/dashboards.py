"""Dashboards: how a training run went, from its artifacts in the registry.

Pick a model and a run (the active one by default) to see its learning curves, test metrics,
confusion matrices, sample predictions and details, or compare it with another run.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mimo.app.plots.confusion import LARGE_MATRIX, class_labels, confusion_figure
from mimo.app.plots.curves import learning_curves_figure
from mimo.app.plots.samples import samples_grid_figure
from mimo.config import MODEL_NAMES
from mimo.runs import view as dashboard
from mimo.runs.compare import comparison_table
from mimo.runs.registry import Registry
from mimo.runs.view import HEAD_TITLES, MODEL_TITLES, RunView
from mimo.tasks import HEADS, task

st.set_page_config(page_title="Dashboards · mimo", page_icon="📊", layout="wide")

# -------------------------------------------------------------------------------------------
# Loading (cached by registry, run id and the run's file stamps)


@st.cache_data(show_spinner="Loading the run…", max_entries=32)
def load_run(root: str, run_id: str, stamp: tuple) -> RunView:
    return dashboard.load_run_view(Registry(root).runs_dir / run_id, run_id)


@st.cache_data(show_spinner=False, max_entries=256)
def load_run_info(root: str, run_id: str, stamp: tuple) -> dict:
    return dashboard.read_run_info(Registry(root).runs_dir / run_id)


def run_view(registry: Registry, run_id: str) -> RunView:
    run_dir = registry.runs_dir / run_id
    return load_run(str(registry.root), run_id, dashboard.artifact_fingerprint(run_dir))


def run_labels(registry: Registry, run_ids: list[str]) -> dict[str, str]:
    active = set(registry.active_ids().values())
    labels = {}
    for run_id in run_ids:
        path = registry.runs_dir / run_id / "run.json"
        stamp = (path.stat().st_mtime_ns,) if path.is_file() else ()
        info = load_run_info(str(registry.root), run_id, stamp)
        labels[run_id] = dashboard.run_label(run_id, info, run_id in active)
    return labels


# -------------------------------------------------------------------------------------------
# What the user chooses


def choose_model_ui() -> str:
    return st.radio(
        "Model", MODEL_NAMES, format_func=MODEL_TITLES.get, horizontal=True, key="dash_model"
    )


def choose_run_ui(registry: Registry, model: str) -> str | None:
    run_ids = [run.run_id for run in registry.list_runs(model)]
    if not run_ids:
        st.info(
            f"There are no training runs of the {MODEL_TITLES[model].lower()} yet. "
            "Train one on the Retrain page and its dashboards will appear here."
        )
        return None
    active_id = registry.active_ids().get(model)
    if active_id not in run_ids:
        st.info(f"No active {model} run is set; showing the newest run instead.")
    labels = run_labels(registry, run_ids)
    return st.selectbox(
        "Run",
        run_ids,
        index=run_ids.index(active_id) if active_id in run_ids else 0,
        format_func=labels.get,
        key=f"dash_run_{model}",
        help="★ marks the active run, the one the Predict page uses.",
    )


def confusion_scale_ui() -> bool:
    return st.toggle(
        "Normalise rows",
        value=True,
        key="dash_normalise",
        help="On: each row shows the share of that true class given each prediction. "
        "Off: raw image counts.",
    )


def sample_filter_ui() -> tuple[bool, int]:
    left, right = st.columns([1, 2])
    mistakes_only = left.checkbox("Mistakes only", key="dash_mistakes_only")
    limit = right.slider("Samples shown", 10, 120, 30, step=10, key="dash_sample_limit")
    return mistakes_only, limit


def choose_comparison_ui(registry: Registry, run_id: str, model: str) -> str | None:
    if not st.toggle("Compare with another run", key="dash_compare"):
        return None
    runs = registry.list_runs()
    others = [r.run_id for r in runs if r.model == model and r.run_id != run_id]
    others += [r.run_id for r in runs if r.model != model]
    if not others:
        st.info("There is no other run to compare with yet.")
        return None
    labels = run_labels(registry, others)
    return st.selectbox(
        "Compare with", others, format_func=labels.get, key=f"dash_compare_run_{run_id}"
    )


# -------------------------------------------------------------------------------------------
# What the page shows


def show_problems(view: RunView) -> None:
    for problem in view.problems:
        st.warning(problem, icon="⚠️")


def show_test_metrics(view: RunView) -> None:
    st.subheader("Test metrics")
    metrics = view.metrics
    if not metrics:
        st.info("This run has no test metrics.")
        return
    items = [(f"{HEAD_TITLES[h]} accuracy", metrics.get(f"{h}_accuracy")) for h in view.heads]
    if "consistency" in metrics:
        items.append(("Consistency", metrics["consistency"]))
    columns = st.columns(len(items) + 1)
    for column, (label, value) in zip(columns, items, strict=False):
        column.metric(label, dashboard.percent(value))
    columns[-1].metric("Test images", dashboard.count(metrics.get("n")))
    if "consistency" in metrics:
        st.caption(
            "Consistency: how often the sum head agrees with the digit head "
            "(predicted sum = predicted digit + number), right or wrong."
        )


def show_learning_curves(histories: dict[str, dict], key: str) -> None:
    if not histories:
        st.info("No learning curves to show.")
        return
    left, right = st.columns(2)
    left.plotly_chart(learning_curves_figure(histories, "loss"), width="stretch", key=f"{key}_loss")
    right.plotly_chart(
        learning_curves_figure(histories, "accuracy"), width="stretch", key=f"{key}_accuracy"
    )


def show_confusion_matrices(view: RunView, normalised: bool) -> None:
    if not view.confusion:
        st.info("No confusion matrices to show for this run.")
        return
    for column, head in zip(_matrix_places(view.heads), view.heads, strict=True):
        title = f"{HEAD_TITLES[head]} head"
        fig = confusion_figure(view.confusion[head], class_labels(head), normalised, title)
        column.plotly_chart(fig, width="stretch", key=f"confusion_{head}")


def _matrix_places(heads: tuple[str, ...]) -> list:
    """Where each head's matrix goes. A big one (the 19x19 sum matrix) needs the full width to
    stay readable, and the others then take half; else they share one row."""
    if any(HEADS[head].classes > LARGE_MATRIX for head in heads):
        return [
            st.container() if HEADS[head].classes > LARGE_MATRIX else st.columns([1, 1])[0]
            for head in heads
        ]
    return st.columns([1.4] + [1] * (len(heads) - 1))


def show_sample_grid(view: RunView, mistakes_only: bool, limit: int) -> None:
    if view.samples is None:
        st.info("No sample predictions to show for this run.")
        return
    fig = samples_grid_figure(view.samples, view.model, mistakes_only, limit)
    st.plotly_chart(fig, width="stretch", key="sample_grid")
    extra = task(view.model).pairing.description  # "the number added to it"
    st.caption(
        f"Test images with {extra}. Green frame: every head right; red frame: a mistake "
        "(the wrong prediction is in red). Hover a marker for details."
    )


def show_run_details(view: RunView) -> None:
    st.subheader("Run details")
    params = view.info.get("params")
    first, second, third = st.columns(3)
    first.metric("Parameters", dashboard.count(params))
    first.metric("Epochs trained", dashboard.count(dashboard.epochs_trained(view)))
    timings = dashboard.timing_rows(view.info)
    second.metric("Training time", timings["Training"])
    second.metric("Total time", timings["Total"])
    third.metric("Created", view.created[:16])
    third.metric("Status", str(view.info.get("status", "—")))

    data_col, time_col, config_col = st.columns(3)
    data_col.markdown("**Data**")
    data_col.table(_two_columns(dashboard.data_rows(view.info)))
    time_col.markdown("**Timings**")
    time_col.table(_two_columns(timings))
    config_col.markdown("**Training settings**")
    config_col.table(_two_columns(dashboard.config_rows(view.config)))

    with st.expander("Architecture"):
        if view.architecture:
            st.code(view.architecture, language=None)
        else:
            st.info("The architecture summary of this run is not available.")


def _two_columns(rows: dict) -> pd.DataFrame:
    return pd.DataFrame({" ": list(rows.values())}, index=list(rows))


def show_comparison(view: RunView, other: RunView) -> None:
    show_problems(other)
    histories = {v.run_id: v.history for v in (view, other) if v.history}
    show_learning_curves(histories, key="compare")
    table = comparison_table([view, other])
    st.table(pd.DataFrame(table, index=[view.run_id, other.run_id]).T)


def section(title: str, show, *args) -> None:
    """Show one part of the page; if it fails, say so and carry on with the rest."""
    try:
        show(*args)
    except Exception as exc:  # one bad artifact must not take the whole page down
        st.warning(f"Could not show the {title}: {exc}")


# -------------------------------------------------------------------------------------------


def main() -> None:
    st.title("Dashboards")
    st.caption("How each training run went, from the files it left in the model registry.")
    registry = Registry()
    model = choose_model_ui()
    run_id = choose_run_ui(registry, model)
    if run_id is None:
        return
    view = run_view(registry, run_id)
    if run_id == registry.active_ids().get(model):
        st.caption("★ This is the active run: the Predict page uses it.")
    show_problems(view)
    section("test metrics", show_test_metrics, view)

    st.subheader("Learning curves")
    section(
        "learning curves",
        show_learning_curves,
        {run_id: view.history} if view.history else {},
        "curves",
    )

    st.subheader("Confusion matrices")
    normalised = confusion_scale_ui()
    section("confusion matrices", show_confusion_matrices, view, normalised)

    st.subheader("Sample predictions")
    mistakes_only, limit = sample_filter_ui()
    section("sample predictions", show_sample_grid, view, mistakes_only, limit)

    section("run details", show_run_details, view)

    st.subheader("Compare runs")
    other_id = choose_comparison_ui(registry, run_id, model)
    if other_id is not None:
        section("comparison", show_comparison, view, run_view(registry, other_id))


main()
