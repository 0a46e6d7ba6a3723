"""Retrain: train a new run of either model in the background, follow it live, make it active.

The form becomes a checked TrainConfig (mimo.app.retrain_form); the job runs in its own process
(mimo.app.jobs), which reads that config from a JSON file. Its state lives in the registry's
jobs/ folder, so every browser session sees the same job, and leaving the page does not stop it.
The data choice names the source each option leads to; the form also takes a loss weight per
head (0 turns a head off: single-task), whether to start from scratch or fine-tune the active
run, and whether to include the collected digits ("my digits") and how much they count. While
a job runs, Start is off and the page says why, above the form. A finished run is compared with
the active one when both were tested on the same test set, and says that they were not, and
why, otherwise (mimo.runs.compare); a run that included the collected digits also shows its
accuracy on the held-back ones beside the active run's on the same digits (mimo.train.
my_digits). A deployment can switch retraining off or lock it with a password (mimo.app.access).
"""

from __future__ import annotations

import time

import streamlit as st

from mimo.app import access, jobs, retrain_form
from mimo.app.feedback_ui import open_store
from mimo.app.plots.curves import learning_curves_figure
from mimo.app.unlock import deployment_secrets, unlock_ui
from mimo.config import MODEL_NAMES
from mimo.feedback.errors import FeedbackError
from mimo.runs import compare
from mimo.runs.registry import Registry, RegistryError
from mimo.runs.view import MODEL_TITLES, percent
from mimo.tasks import HEADS, METRIC_TITLES, TASKS
from mimo.train import my_digits
from mimo.train.config import APP_LIMITS, ConfigError, TrainConfig

DEFAULTS = TrainConfig()  # the form starts from the training defaults, except for its epochs
QUICK_EPOCHS = 3  # a first job from the page finishes in minutes
DATA_KEY = "retrain_data"  # the data choice's widget
STARTED_KEY = "retrain_started"  # session state: the job this session just started, to say so

st.set_page_config(page_title="Retrain · mimo", page_icon="🏋️", layout="wide")

# -------------------------------------------------------------------------------------------
# Starting a job (who may: mimo.app.unlock, whose lock also covers the Dashboards page's
# registry actions)


def data_choice_ui(registry: Registry, enabled: bool) -> retrain_form.DataChoice:
    """Which data the job will use: a choice that names each source."""
    choices = retrain_form.data_choices(registry)
    if st.session_state.get(DATA_KEY) not in choices:
        st.session_state.pop(DATA_KEY, None)  # offered no longer (a file gone, the network)
    key = st.radio(
        "Training data",
        list(choices),
        format_func=lambda k: _capitalised(choices[k].source.description),
        key=DATA_KEY,
        disabled=not enabled,
        help="The job trains on this data's training split and is tested on its test split, "
        "so runs compare best on the same data.",
    )
    chosen = choices[key]
    st.caption(f"Data: {chosen.source.description}.")
    if retrain_form.DOWNLOAD not in choices and chosen.source.source != "file":
        st.caption("Full MNIST is not offered: keras has no copy here and cannot download one.")
    if chosen.source.problem:
        st.warning(chosen.source.problem)
    return chosen


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def my_digits_offer() -> retrain_form.MyDigitsOffer:
    """Whether the collected digits can be included, from the store's count."""
    try:
        return retrain_form.my_digits_offer(open_store().count())
    except FeedbackError as exc:
        return retrain_form.my_digits_offer(None, str(exc))


def training_form_ui(enabled: bool, offer: retrain_form.MyDigitsOffer) -> dict | None:
    """The training settings; returned when the user presses Start."""
    with st.form("retrain_form"):
        model = st.radio(
            "Model",
            MODEL_NAMES,
            format_func=MODEL_TITLES.get,
            key="retrain_model",
            horizontal=True,
            disabled=not enabled,
        )
        left, middle, right = st.columns(3)
        epochs = left.number_input(
            "Epochs",
            value=QUICK_EPOCHS,
            step=1,
            key="retrain_epochs",
            disabled=not enabled,
            help=f"1 to {APP_LIMITS.max_epochs} on this deployment.",
        )
        train_size = left.number_input(
            "Training-set size",
            value=min(10_000, APP_LIMITS.max_train_size),
            step=1000,
            key="retrain_train_size",
            disabled=not enabled,
            help=f"Images to train on: {APP_LIMITS.min_train_size} to "
            f"{APP_LIMITS.max_train_size:,} (the offline fallback has 4,000; larger sizes use all "
            "there are).",
        )
        batch_size = middle.number_input(
            "Batch size",
            value=DEFAULTS.batch_size,
            step=16,
            key="retrain_batch_size",
            disabled=not enabled,
            help=f"1 to {APP_LIMITS.max_batch_size}.",
        )
        seed = middle.number_input(
            "Seed",
            value=DEFAULTS.seed,
            step=1,
            key="retrain_seed",
            disabled=not enabled,
            help="The same settings and seed give the same run.",
        )
        learning_rate = right.text_input(
            "Learning rate",
            value=f"{DEFAULTS.learning_rate:g}",
            key="retrain_learning_rate",
            disabled=not enabled,
            help="Peak rate after a one-epoch warm-up, then cosine decay. Above 0, at most 1.",
        )
        augment = right.checkbox(
            "Augment the images",
            value=DEFAULTS.augment,
            key="retrain_augment",
            disabled=not enabled,
            help="Small random shifts, rotations and zooms while training.",
        )
        canvas_renders = right.checkbox(
            "Also train on canvas drawings",
            value=DEFAULTS.canvas_renders,
            key="retrain_canvas_renders",
            disabled=not enabled,
            help="Each training digit is also drawn as on the Predict page's canvas (bold "
            "brushes, past the edges, tiny in a corner) and read back as the page reads it. "
            "Reads drawings better; twice the steps per epoch, and a few milliseconds per "
            "digit to draw them first.",
        )
        first_weight, other_weight = loss_weights_ui(enabled)
        start_from = st.radio(
            "Start from",
            list(retrain_form.START_CHOICES),
            format_func=retrain_form.START_CHOICES.get,
            key="retrain_start_from",
            horizontal=True,
            disabled=not enabled,
            help="Fine-tuning starts from the weights of the model's active run (the one the "
            "Predict page uses). The other model's shared layers are its active run's trunk "
            "and digit head; the rest starts at random, as everything does from scratch.",
        )
        include, weight = my_digits_ui(enabled, offer)
        submitted = st.form_submit_button("Start training", type="primary", disabled=not enabled)
    if not submitted:
        return None
    return {
        "model": model,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "train_size": train_size,
        "augment": augment,
        "canvas_renders": canvas_renders,
        "seed": seed,
        "loss_weights": retrain_form.form_loss_weights(model, first_weight, other_weight),
        "start_from": start_from,
        "my_digits": include,
        "my_digits_weight": weight,
    }


def my_digits_ui(enabled: bool, offer: retrain_form.MyDigitsOffer) -> tuple[bool, int]:
    """Include the collected digits, and how much each counts."""
    left, right = st.columns(2)
    include = left.checkbox(
        "Include my digits",
        value=False,
        key="retrain_my_digits",
        disabled=not (enabled and offer.available),
        help="Mix the digits saved on the Predict page into the training data, augmented like "
        "MNIST's.",
    )
    left.caption(offer.words)
    weight = right.number_input(
        "How much each of my digits counts",
        min_value=1,
        max_value=APP_LIMITS.max_my_digits_weight,
        value=DEFAULTS.my_digits_weight,
        step=1,
        key="retrain_my_digits_weight",
        disabled=not (enabled and offer.available),
        help="Each of your digits to train on is seen this many times per epoch; an MNIST "
        "image once.",
    )
    return bool(include and offer.available), weight


def loss_weights_ui(enabled: bool) -> tuple[float, float]:
    """The two heads' loss weights: the digit head's and the other head's."""
    first, other = st.columns(2)
    others = " or ".join(sorted({h.title.lower() for t in TASKS.values() for h in t.other_heads}))
    weights = []
    for column, label, key in (
        (first, "Digit head's loss weight", "retrain_weight_first"),
        (other, f"Other head's loss weight ({others})", "retrain_weight_other"),
    ):
        weights.append(
            column.number_input(
                label,
                min_value=0.0,
                value=1.0,
                step=0.25,
                key=key,
                disabled=not enabled,
                help="How much this head's loss counts in the total. 0 turns the head off: "
                "the model then trains on the other task alone (single-task).",
            )
        )
    return weights[0], weights[1]


def start_training(choices: dict, data: retrain_form.DataChoice, registry: Registry) -> None:
    try:
        config = retrain_form.config_from_form(
            **choices,
            allow_download=data.allow_download,
            data_path=data.data_path,
            active_ids=registry.active_ids(),
        )
    except ConfigError as exc:
        for problem in exc.problems:
            st.error(problem)
        return
    try:
        job = jobs.start_job(config, registry)
    except jobs.JobBusy as exc:
        st.warning(str(exc))
        return
    except (OSError, RegistryError) as exc:
        st.error(f"The training job could not be started: {exc}")
        return
    st.session_state[STARTED_KEY] = job.job_id
    st.rerun()  # the whole page again: the job above, Start off while it runs


# -------------------------------------------------------------------------------------------
# Following a job


def job_panel_ui(registry: Registry, can_act: bool) -> None:
    job = jobs.current_job(registry)
    if job is None:
        st.caption("No training job has been started from the app yet.")
        return
    status = job.status()
    if status.running:
        live_job_ui(registry, can_act)
    else:
        finished_job_ui(job, status, registry, can_act)


@st.fragment(run_every=1)
def live_job_ui(registry: Registry, can_act: bool) -> None:
    """Redrawn every second while the job runs; the whole page reruns when it ends."""
    job = jobs.current_job(registry)
    status = job.status() if job else None
    if status is None or not status.running:
        st.rerun()
    started = time.strftime("%H:%M:%S", time.localtime(status.started))
    st.subheader(f"Training {MODEL_TITLES.get(status.model, status.model)}")
    st.caption(f"Run {status.job_id}, started {started}.")
    st.progress(status.fraction, text=status.phase)
    data_used_ui(status)
    if cancel_ui(can_act):
        jobs.cancel(job)
        st.rerun()
    curves_ui(status)


def cancel_ui(can_act: bool) -> bool:
    return st.button("Cancel training", key="retrain_cancel", disabled=not can_act)


def data_used_ui(status: jobs.JobStatus) -> None:
    if status.data:
        used = status.data.get("train_used")
        sizes = f" ({used:,} images to train on)" if isinstance(used, int) else ""
        st.caption(f"Data: {status.data.get('description', status.data.get('source'))}{sizes}.")
        mine = status.data.get(my_digits.DATA_KEY)
        if isinstance(mine, dict):
            st.caption(
                f"With {mine.get('used')} of your digits, each seen {mine.get('weight')} times per "
                f"epoch; {mine.get('held_back')} more are held back to evaluate on."
            )


def curves_ui(status: jobs.JobStatus) -> None:
    if not status.history.get("epoch"):
        st.caption("The learning curves appear after the first epoch.")
        return
    for metric in ("loss", "accuracy"):
        st.plotly_chart(learning_curves_figure({status.job_id: status.history}, metric))


def finished_job_ui(job: jobs.Job, status: jobs.JobStatus, registry: Registry, can_act: bool):
    if status.state == jobs.CANCELLED:
        st.info(f"Training run {status.job_id} was cancelled.")
        return
    if status.state == jobs.FAILED:
        st.error(f"Training run {status.job_id} failed: {status.error}")
        if status.log_tail:
            with st.expander("The end of the job's log"):
                st.code(status.log_tail, language=None)
        return
    st.success(f"Training run {status.job_id} finished.")
    data_used_ui(status)
    comparison_ui(registry, status.job_id)
    held_back_ui(registry, status.job_id)
    make_active_ui(registry, status.job_id, status.model, can_act)
    curves_ui(status)


def comparison_ui(registry: Registry, run_id: str) -> None:
    """The new run's test metrics, with the change from the active run's when both were tested
    on the same test set; else a warning that says they were not, and why."""
    try:
        comparison = compare.against_active(registry, run_id)
    except (RegistryError, OSError, ValueError) as exc:
        st.warning(f"The test metrics cannot be read: {exc}")
        return
    active = comparison.runs[1] if len(comparison.runs) > 1 else None
    apart = compare.different_test_sets(comparison)
    columns = st.columns(max(1, len(comparison.rows)))
    for column, row in zip(columns, comparison.rows, strict=False):
        change = None if apart else row.change
        column.metric(
            METRIC_TITLES.get(row.metric, row.metric),
            percent(row.values[0]),
            None if change is None else f"{change * 100:+.2f} points",
            help=None if change is None else f"The active run: {percent(row.values[1])}",
        )
    new = comparison.runs[0]
    if apart:
        st.warning(apart)
    elif active is not None:
        st.caption(
            f"Test metrics on {new.test_set_words()}, the active run {active.run_id}'s test set "
            "too; the changes are against it."
        )
    elif registry.active_ids().get(new.model) != run_id:
        st.caption(
            f"Test metrics on {new.test_set_words()}. There is no active model of this kind to "
            "compare with."
        )


def held_back_ui(registry: Registry, run_id: str) -> None:
    """For a run that included the collected digits: its accuracy per head on the held-back
    ones, with the change from the active run's on the same digits (scored when it trained)."""
    try:
        info = registry.run(run_id).info
    except (RegistryError, OSError, ValueError):
        return  # comparison_ui has said why the run cannot be read
    rows = my_digits.held_back_rows(info)
    if not rows:
        return
    record = info[my_digits.RECORD_KEY]
    active = record.get("active_run") if isinstance(record.get("active_run"), dict) else None
    st.markdown("**On your held-back digits**")
    columns = st.columns(len(rows))
    for column, row in zip(columns, rows, strict=True):
        column.metric(
            f"{HEADS[row.head].title} accuracy on your digits",
            percent(row.new),
            None if row.change is None else f"{row.change * 100:+.2f} points",
            help=f"On {row.scored} held-back digits"
            + ("" if row.active is None else f"; the active run: {percent(row.active)}"),
        )
    words = (
        f"{record.get('held_back')} of your digits were held back: never trained on. The run "
        f"trained on {record.get('used')} others, each seen {record.get('weight')} times per "
        "epoch. The MNIST test metrics are above."
    )
    if active is None:
        words += " There was no active run to compare with."
    elif "problem" in active:
        words += f" The active run {active.get('run_id')} was not scored: {active['problem']}."
    else:
        words += f" The changes are against the active run {active.get('run_id')} on these digits."
    st.caption(words)


def make_active_ui(registry: Registry, run_id: str, model: str, can_act: bool) -> None:
    title = MODEL_TITLES.get(model, model)
    if registry.active_ids().get(model) == run_id:
        st.success(f"This run is the active {title}. The Predict page uses it from now on.")
        return
    if st.button("Make active", key="retrain_make_active", type="primary", disabled=not can_act):
        try:
            registry.activate(run_id)
        except (RegistryError, OSError) as exc:
            st.error(f"The run cannot be made active: {exc}")
            return
        st.rerun()


# -------------------------------------------------------------------------------------------
# The page


def main() -> None:
    st.title("Retrain a model")
    st.write(
        "Train a new run of either model in the background and follow it live. "
        "When it has finished, compare it with the active model and make it active."
    )
    secrets, secrets_error = deployment_secrets()
    policy = access.retrain_access(secrets, secrets_error=secrets_error)
    if policy.mode == access.OFF:
        st.info(f"Retraining is switched off: {policy.reason}")
        return
    registry = Registry()
    can_act = unlock_ui(policy)

    job_area = st.container()
    st.subheader("Start a new training run")
    running = jobs.current_job(registry)
    running = running if running is not None and running.status().running else None
    notices = st.container()  # above the form: why Start is off, and what a click did
    started = st.session_state.pop(STARTED_KEY, None)
    if started is not None:
        notices.success(f"Started training run {started}.")
    if running is not None:
        notices.info(
            f"Start is off while run {running.job_id} trains: one training job at a time. "
            "It comes back when that job finishes or is cancelled (above)."
        )
    enabled = can_act and running is None
    data = data_choice_ui(registry, enabled)
    choices = training_form_ui(enabled, my_digits_offer())
    if choices is not None and enabled:
        with notices:
            start_training(choices, data, registry)
    with job_area:
        job_panel_ui(registry, can_act)


main()
