"""A job's progress events (progress.jsonl) turned into what the Retrain page shows: a JobStatus.

The training process appends one JSON line per step of its story (mimo.train.trainer): start,
data, batch (at most twice a second), epoch, recalibrating, evaluating, done or failed. Reading
them from the top gives the phase in words, a 0..1 fraction for the progress bar, the epochs
finished so far (for the learning curves) and, for a failed job, the reason. Nothing here reads
files or processes: the caller (mimo.app.jobs) passes what it found.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"

EVALUATION_SHARE = 0.05  # of the progress bar, for the final evaluation on the test set


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


def status_from(
    events: list[dict],
    *,
    job_id: str,
    model: str,
    epochs: int,
    started: float,
    state: str,
    final_metrics: dict | None = None,
    log_tail: str = "",
    exit_code: int | None = None,
) -> JobStatus:
    """The status of a job in `state`, from its progress events so far.

    final_metrics: the published run's test metrics (DONE). log_tail, exit_code: the end of the
    job's log and its exit status, if known (FAILED), for the reason it stopped.
    """
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
        elif kind == "embedding":
            phase = "Embedding test digits for the projector (PCA and t-SNE)"
        elif kind == "done":
            metrics = event.get("metrics")
        elif kind == "failed":
            failure = event.get("error")

    error = None
    if state == DONE:
        fraction, phase = 1.0, "Finished"
        metrics = final_metrics or metrics
    elif state == CANCELLED:
        phase = "Cancelled"
    elif state == FAILED:
        error = failure or error_from_log(log_tail) or exit_description(exit_code)
        phase = "Failed"
    return JobStatus(
        job_id=job_id,
        model=model,
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
        started=started,
        log_tail=log_tail if state == FAILED else "",
    )


def _training_fraction(epochs_done: float, epochs: int) -> float:
    return (1 - EVALUATION_SHARE) * epochs_done / max(epochs, 1)


def error_from_log(tail: str) -> str | None:
    """The command line's one-line `error: ...` message, if it printed one."""
    for line in reversed(tail.splitlines()):
        if line.startswith("error: "):
            return line.removeprefix("error: ").strip()
    return None


def exit_description(code: int | None) -> str:
    """Why the training process stopped, from its exit status (None: not known here)."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"The training process was killed ({name}) before it finished."
    if code is not None:
        return f"The training process stopped with exit status {code} before it finished."
    return "The training process stopped before it finished (it may have been killed)."
