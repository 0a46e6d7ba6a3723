"""Training jobs started from the app: one at a time, each in its own background process.

`start_job` writes the job's TrainConfig as JSON and runs `python -m mimo --registry ROOT train
--config <that file> --run-id ID` as a new process group, never inside the Streamlit script.
Everything about a job lives in `<registry>/jobs/`, so any browser session, server process or
restart sees the same job:

    train.lock      held (flock) by the training process for its whole life
    current.json    the latest job: id (= run id), pid, start time, log file, cancelled
    <run id>.json   the job's training configuration, as the training process reads it
    <run id>.log    the job's stdout and stderr

One job at a time: `start_job` takes the lock on train.lock and hands it to the job's process,
which holds it until it exits (mimo.app.job_process). `python -m mimo train` run by hand takes
the same lock (`training_lock`), so a job from the app and one from a terminal never train at
once.

A job's state, read from the registry each time (its progress in words: mimo.app.job_status):
    running    the lock is held and the job's process is alive
    done       its run is published in runs/
    cancelled  someone cancelled it (its staging directory is removed)
    failed     anything else, e.g. an error (the 'failed' progress event) or a SIGKILL mid-epoch
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mimo.app import job_process
from mimo.app.job_status import CANCELLED, DONE, FAILED, RUNNING, JobStatus, status_from
from mimo.config import PROJECT_ROOT
from mimo.runs import artifacts
from mimo.runs.registry import (
    Registry,
    RegistryError,
    check_run_id,
    model_of,
    new_run_id,
    write_json_atomic,
)
from mimo.train.config import ConfigError, TrainConfig

JOBS_DIR = "jobs"
LOCK_FILE = "train.lock"
CURRENT_FILE = "current.json"

CANCEL_GRACE_S = 3.0  # between SIGTERM and SIGKILL
LOCK_ATTEMPTS = 5  # a status probe holds the lock for microseconds: retry briefly before "busy"
LOG_TAIL_CHARS = 3000  # of a failed job's log, shown on the page


class JobBusy(RuntimeError):
    """A training job is already running."""


@dataclass
class Job:
    registry: Registry
    config: TrainConfig  # as written to <run id>.json for the training process
    record: dict = field(repr=False)  # current.json

    @property
    def job_id(self) -> str:
        return self.record["job_id"]

    @property
    def run_id(self) -> str:
        return self.record["job_id"]

    @property
    def pid(self) -> int:
        return int(self.record["pid"])

    @property
    def started(self) -> float:
        return float(self.record["started"])

    @property
    def log_path(self) -> Path:
        return jobs_dir(self.registry) / f"{self.job_id}.log"

    @property
    def config_path(self) -> Path:
        return config_path(self.registry, self.job_id)

    def refresh(self) -> Job:
        """Pick up changes made by other sessions (a cancellation)."""
        record = _read_record(self.registry)
        if record is not None and record["job_id"] == self.job_id:
            self.record = record
        return self

    def is_running(self) -> bool:
        held = job_process.lock_held(lock_path(self.registry))
        return held and job_process.process_alive(self.pid)

    def status(self) -> JobStatus:
        self.refresh()
        run_dir = self.registry.find_run_dir(self.job_id)
        events = artifacts.read_progress(run_dir) if run_dir else []
        published = (self.registry.runs_dir / self.job_id / artifacts.RUN_INFO).is_file()
        if published and not any(e.get("event") == "done" for e in events):
            events = artifacts.read_progress(self.registry.runs_dir / self.job_id)
        if published:
            state = DONE
        elif self.is_running():
            state = RUNNING
        elif self.record.get("cancelled"):
            state = CANCELLED
        else:
            state = FAILED
        final_metrics = None
        if state == DONE:
            with contextlib.suppress(RegistryError, OSError, ValueError):
                final_metrics = self.registry.run(self.job_id).info.get("test_metrics")
        return status_from(
            events,
            job_id=self.job_id,
            model=self.config.model,
            epochs=self.config.epochs,
            started=self.started,
            state=state,
            final_metrics=final_metrics,
            log_tail=self.log_tail() if state == FAILED else "",
            exit_code=job_process.exit_code(self.pid) if state == FAILED else None,
        )

    def log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - LOG_TAIL_CHARS))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# Starting, finding and cancelling a job


def start_job(config: TrainConfig, registry: Registry | None = None) -> Job:
    """Start training `config` in a background process; raise JobBusy if a job is running.

    `config` is trained as given: the Retrain form checked it (retrain_form.config_from_form),
    and the training process checks its file again, as the command line checks any file.
    """
    registry = registry or Registry()
    folder = jobs_dir(registry)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(registry), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not job_process.try_lock(fd, LOCK_ATTEMPTS):
            raise JobBusy(_busy_message(registry))
        previous = _read_record(registry)
        if previous is not None and not (registry.runs_dir / previous["job_id"]).is_dir():
            registry.discard_staging(previous["job_id"])  # a failed job's leftovers
        run_id = new_run_id(config.model)
        write_json_atomic(config_path(registry, run_id), config.to_dict())
        log_path = folder / f"{run_id}.log"
        process = job_process.spawn(
            train_command(registry, run_id), log_path, lock_fd=fd, cwd=PROJECT_ROOT
        )
        record = {
            "job_id": run_id,
            "pid": process.pid,
            "started": time.time(),
            "log": log_path.name,
            "cancelled": False,
        }
        try:
            write_json_atomic(folder / CURRENT_FILE, record)
        except BaseException:
            job_process.kill_group(process.pid, signal.SIGKILL)
            raise
        return Job(registry, config, record)
    finally:
        os.close(fd)  # the child keeps the lock through its own copy


def train_command(registry: Registry, run_id: str) -> list[str]:
    """The `python -m mimo train` command line of a job: its settings are in its config file."""
    return [
        sys.executable,
        "-m",
        "mimo",
        "--registry",
        str(registry.root),
        "train",
        "--config",
        str(config_path(registry, run_id)),
        "--run-id",
        check_run_id(run_id),
    ]


def current_job(registry: Registry | None = None) -> Job | None:
    """The latest job started from the app (running or finished), or None."""
    registry = registry or Registry()
    record = _read_record(registry)
    if record is None:
        return None
    try:
        config = TrainConfig.from_json_file(config_path(registry, record["job_id"]))
    except ConfigError:
        return None
    return Job(registry, config, record)


def cancel(job: Job, grace_s: float = CANCEL_GRACE_S) -> JobStatus:
    """Stop a running job: SIGTERM its process group, SIGKILL after `grace_s`; drop its files."""
    job.refresh()
    if not job.is_running():
        return job.status()
    job.record = {**job.record, "cancelled": True, "cancelled_at": time.time()}
    write_json_atomic(jobs_dir(job.registry) / CURRENT_FILE, job.record)
    job_process.kill_group(job.pid, signal.SIGTERM)
    if not job_process.wait_until_stopped(job.pid, grace_s):
        job_process.kill_group(job.pid, signal.SIGKILL)
        job_process.wait_until_stopped(job.pid, 10.0)
    if not (job.registry.runs_dir / job.job_id).is_dir():
        job.registry.discard_staging(job.job_id)
    return job.status()


@contextlib.contextmanager
def training_lock(registry: Registry):
    """Hold the one-job lock while a training run started outside the app (the command line)
    runs; raise JobBusy at once if a job holds it. A job started by `start_job` already holds
    it through the descriptor named in MIMO_JOB_LOCK_FD, and goes on without taking it again."""
    path = lock_path(registry)
    if job_process.inherits_lock(path):
        yield
        return
    jobs_dir(registry).mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        if not job_process.try_lock(fd, LOCK_ATTEMPTS):
            raise JobBusy(_busy_message(registry))
        yield
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# The jobs folder


def jobs_dir(registry: Registry) -> Path:
    return registry.root / JOBS_DIR


def lock_path(registry: Registry) -> Path:
    return jobs_dir(registry) / LOCK_FILE


def config_path(registry: Registry, run_id: str) -> Path:
    return jobs_dir(registry) / f"{check_run_id(run_id)}.json"


def _read_record(registry: Registry) -> dict | None:
    try:
        record = artifacts.read_json(jobs_dir(registry), CURRENT_FILE)
        check_run_id(record["job_id"])
        if not isinstance(record["pid"], int) or not isinstance(record["started"], (int, float)):
            raise TypeError("pid and started must be numbers")
    except (OSError, ValueError, KeyError, TypeError, RegistryError):
        return None
    return record


def _busy_message(registry: Registry) -> str:
    record = _read_record(registry)
    started = ""
    if record is not None:
        when = time.strftime("%H:%M:%S", time.localtime(float(record["started"])))
        started = f" (started {when}, {model_of(record['job_id'])} model)"
    return f"A training job is already running{started}. Wait for it or cancel it."
