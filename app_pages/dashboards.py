"""Dashboards: how training runs went and how they differ, from their artifacts in the registry.

Pick a model and a run (the active one by default) to see its test metrics, confusion matrices,
sample predictions, embedding and details; pick any number of runs to overlay their learning
curves, diff their settings and see which test digits one fixed and the other broke. The
multi-task lab shows what training the second task does to the digit: accuracies with bootstrap
intervals, the heads' gradient agreement, single-task against multi-task runs, and the trade-off
between the two heads across runs. Runs can be
made active, rolled back, annotated and deleted here (behind the retraining lock).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mimo.app.balance_ui import task_balance_ui
from mimo.app.confusion_ui import confusion_ui
from mimo.app.examples_ui import (
    RUN_DIFF_KEY,
    diff_runs_ui,
    run_diff_ui,
    sample_choices_ui,
    sample_grid_ui,
)
from mimo.app.projector_ui import projector_ui
from mimo.app.run_actions import flash_ui, run_actions_ui, run_picker_key
from mimo.app.run_data import (
    examples_key,
    file_stamp,
    run_embedding,
    run_examples,
    run_labels,
    run_view,
)
from mimo.app.runs_overlay import results_ui, runs_overlay_ui, settings_ui
from mimo.app.tradeoff_ui import tradeoff_ui
from mimo.config import MODEL_NAMES
from mimo.runs import artifacts
from mimo.runs import view as dashboard
from mimo.runs.registry import Registry
from mimo.runs.view import HEAD_TITLES, MODEL_TITLES, RunView

st.set_page_config(page_title="Dashboards · mimo", page_icon="📊", layout="wide")

OVERLAY_DEFAULT_RUNS = 3  # runs on the curves at first: the one in focus and the newest others
LINK_FOLLOWED = "dash_link_followed"  # session state: the ?model=&run= link already applied

# -------------------------------------------------------------------------------------------
# What the user chooses


def follow_link(registry: Registry) -> None:
    """A link such as a Predict card's (?model=sum&run=<run id>) opens that run, once: after
    that the user's own choices stand."""
    link = (st.query_params.get("model"), st.query_params.get("run"))
    if link == (None, None) or st.session_state.get(LINK_FOLLOWED) == link:
        return
    st.session_state[LINK_FOLLOWED] = link
    model, run_id = link
    if model not in MODEL_NAMES:
        return
    st.session_state["dash_model"] = model
    if run_id in [run.run_id for run in registry.list_runs(model)]:
        st.session_state[run_picker_key(model)] = run_id


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
    if st.session_state.get(run_picker_key(model)) not in run_ids:
        st.session_state.pop(run_picker_key(model), None)  # deleted meanwhile
    labels = run_labels(registry, run_ids)
    chosen = run_picker_key(model) in st.session_state  # then the session's choice stands
    return st.selectbox(
        "Run",
        run_ids,
        index=run_ids.index(active_id) if active_id in run_ids and not chosen else 0,
        format_func=labels.get,
        key=run_picker_key(model),
        help="★ marks the active run, the one the Predict page uses.",
    )


def choose_runs_ui(registry: Registry, model: str, run_id: str) -> list[str]:
    """The runs to compare: any number, of either model; the run in focus and the newest
    others of its model at first."""
    own = [r.run_id for r in registry.list_runs(model)]
    others = [r.run_id for r in registry.list_runs() if r.model != model]
    options = own + others
    default = [run_id] + [r for r in own if r != run_id][: OVERLAY_DEFAULT_RUNS - 1]
    key = f"dash_runs_{model}"
    if key in st.session_state:
        kept = [r for r in st.session_state[key] if r in options]
        if kept != st.session_state[key]:
            st.session_state[key] = kept  # runs deleted meanwhile
        default = None  # the session's choice stands
    labels = run_labels(registry, options)
    return st.multiselect(
        "Runs to compare",
        options,
        default=default,
        format_func=labels.get,
        key=key,
        help="Each run gets its own colour on the curves; training is solid, validation dashed.",
    )


def confusion_scale_ui() -> bool:
    return st.toggle(
        "Normalise rows",
        value=True,
        key="dash_normalise",
        help="On: each row shows the share of that true class given each prediction. "
        "Off: raw image counts.",
    )


# -------------------------------------------------------------------------------------------
# What the page shows


def show_problems(view: RunView) -> None:
    for problem in view.problems:
        st.warning(problem, icon="⚠️")


def show_run_heading(registry: Registry, view: RunView) -> None:
    if view.run_id == registry.active_ids().get(view.model):
        st.caption("★ This is the active run: the Predict page uses it.")
    if not view.notes.empty:
        tags = " ".join(f"`#{tag}`" for tag in view.notes.tags)
        st.markdown(f"📝 {view.notes.note}  {tags}".strip())


def show_test_metrics(view: RunView) -> None:
    st.subheader("Test metrics")
    metrics = view.metrics
    if not metrics:
        st.info("This run has no test metrics.")
        return
    n = metrics.get("n")
    items = [(f"{HEAD_TITLES[h]} accuracy", metrics.get(f"{h}_accuracy"), True) for h in view.heads]
    if "consistency" in metrics:
        items.append(("Consistency", metrics["consistency"], False))
    columns = st.columns(len(items) + 1)
    for column, (label, value, errors) in zip(columns, items, strict=False):
        delta = dashboard.errors_text(value, n) if errors else ""
        column.metric(
            label,
            dashboard.percent(value),
            delta or None,
            delta_color="off",
            delta_arrow="off",
        )
    columns[-1].metric("Test images", dashboard.count(n))
    if "consistency" in metrics:
        st.caption(
            "Consistency: how often the sum head agrees with the digit head "
            "(predicted sum = predicted digit + number), right or wrong."
        )


def show_run_diff(registry: Registry, run_ids: list[str]) -> None:
    with st.container(key=RUN_DIFF_KEY):
        pair = diff_runs_ui(run_ids, run_labels(registry, run_ids))
        if pair is None:
            return
        (a, a_problem), (b, b_problem) = (run_examples(registry, r) for r in pair)
        problems = [p for p in (a_problem, b_problem) if p]
        keys = tuple(examples_key(registry, r) for r in pair)
        run_diff_ui(pair[0], a, pair[1], b, problems, keys)


def show_run_details(view: RunView) -> None:
    st.subheader("Run details")
    first, second, third = st.columns(3)
    first.metric("Parameters", dashboard.count(view.info.get("params")))
    first.metric("Epochs trained", dashboard.count(dashboard.epochs_trained(view)))
    timings = dashboard.timing_rows(view.info)
    second.metric("Training time", timings["Training"])
    second.metric("Total time", timings["Total"])
    third.metric("Created", view.created[:16])
    third.metric("Status", str(view.info.get("status", "—")))

    for column, (title, rows) in zip(
        st.columns(3),
        (
            ("Data", dashboard.data_rows(view.info)),
            ("Timings", timings),
            ("Training settings", dashboard.config_rows(view.config)),
        ),
        strict=True,
    ):
        column.markdown(f"**{title}**")
        column.table(pd.DataFrame({title: list(rows.values())}, index=list(rows)), hide_header=True)

    with st.expander("Architecture"):
        if view.architecture:
            st.code(view.architecture, language=None)
        else:
            st.info("The architecture summary of this run is not available.")


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
    flash_ui()
    follow_link(registry)
    model = choose_model_ui()
    run_id = choose_run_ui(registry, model)
    if run_id is None:
        return
    view = run_view(registry, run_id)
    show_run_heading(registry, view)
    section("registry actions", run_actions_ui, registry, model, run_id, view.notes)
    show_problems(view)
    section("test metrics", show_test_metrics, view)

    st.subheader("Compare runs")
    run_ids = choose_runs_ui(registry, model, run_id)
    views = [run_view(registry, r) for r in run_ids]
    section("learning curves", runs_overlay_ui, views)
    if views:
        st.markdown("**Settings**")
        section("settings", settings_ui, views)
        st.markdown("**Test results**")
        section("test results", results_ui, views)
    st.markdown("**Fixed and broken test digits**")
    section("run diff", show_run_diff, registry, run_ids)

    st.subheader("Multi-task lab")
    section("task balance", task_balance_ui, registry, model, run_id, run_ids)
    st.markdown("**Trade-off across runs**")
    section("trade-off", tradeoff_ui, registry, model, run_ids)

    examples, problem = run_examples(registry, run_id)
    if problem:
        st.info(problem)
    elif not examples.as_evaluated:
        st.info(
            f"This run's test metrics come from data that is not available here; its "
            f"per-example predictions below were computed on {examples.data} "
            f"({examples.n:,} test images) instead."
        )
    st.subheader("Confusion matrices")
    normalised = confusion_scale_ui()
    section("confusion matrices", confusion_ui, view, examples, normalised)

    st.subheader("Sample predictions")
    mistakes_only, limit = sample_choices_ui()
    key = examples_key(registry, run_id)
    section("sample predictions", sample_grid_ui, view, examples, mistakes_only, limit, key)

    st.subheader("Embedding projector")
    embedding, embedding_problem = run_embedding(registry, run_id)
    key += (file_stamp(registry.runs_dir / run_id / artifacts.EMBEDDING),)
    problem = embedding_problem or problem
    section("embedding", projector_ui, embedding, examples, problem, key)

    section("run details", show_run_details, view)


main()
