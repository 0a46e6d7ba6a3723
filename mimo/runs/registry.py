"""The registry of training runs, and which run is active for each model.

Layout (root = mimo.config.registry_dir(): MIMO_REGISTRY, else `assets/models` in the repository):

    active.json              {"color": "<run id>", "sum": "<run id>"}
    runs/<run id>/           complete runs only (see mimo.runs.artifacts for what is inside)
    .tmp/<run id>/           runs being written; renamed into runs/ when complete

A run becomes visible in runs/ by one atomic rename, and active.json is replaced atomically,
so a crash never leaves a half-written run listed or active. Run ids are validated against a
strict pattern (a full match: no trailing newline) before they touch the file system: no user
input becomes a path. A run's id names its model; the model recorded in the run's own files
(run.json, config.json) must agree, or the run is refused when activated and skipped when
listed. Symbolic links in runs/ are ignored. A damaged active.json (not an object, a folder,
unreadable) reads as "nothing active" with a problem to report, so callers fall back to the
newest loadable run instead of failing.

What people do with runs from the Dashboards page goes through here too: make a run active
(recorded in activations.json, see mimo.runs.activations), roll back to the run that was
active before, give a run a note and tags (its notes.json, see mimo.runs.notes), and delete a
run that is not active. These take the registry's lock file, so two sessions never interleave
their writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mimo.config import MODEL_NAMES, registry_dir
from mimo.runs import activations
from mimo.runs.artifacts import FILE_MODE, NOTES
from mimo.runs.artifacts import RUN_INFO as RUN_MARKER
from mimo.runs.notes import RunNotes, checked_notes, notes_json, read_notes

# <model>-YYYYMMDD-HHMMSS-<tag>, for every model in the table (mimo.tasks); use fullmatch.
RUN_ID_PATTERN = re.compile(
    f"({'|'.join(map(re.escape, MODEL_NAMES))})" + r"-[0-9]{8}-[0-9]{6}-[a-z0-9]{1,16}"
)
CONFIG_FILE = "config.json"
JSON_KINDS = {list: "array", type(None): "null", int: "number", float: "number", str: "string"}
JSON_KINDS[bool] = "boolean"
MODEL_FILE = "model.keras"
LOCK_FILE = "registry.lock"  # taken while active.json, activations.json or runs/ change
DELETING_PREFIX = "deleting-"  # a run being deleted, moved into .tmp/ first


class RegistryError(RuntimeError):
    """A run is missing, invalid or cannot be used."""


def new_run_id(model: str, tag: str | None = None) -> str:
    check_model_name(model)
    suffix = tag or secrets.token_hex(3)
    run_id = f"{model}-{time.strftime('%Y%m%d-%H%M%S')}-{suffix}"
    return check_run_id(run_id)


def check_model_name(model: str) -> str:
    if model not in MODEL_NAMES:
        raise RegistryError(f"unknown model {model!r}; choose one of {', '.join(MODEL_NAMES)}")
    return model


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise RegistryError(
            f"not a valid run id: {run_id!r} (expected <color|sum>-YYYYMMDD-HHMMSS-<tag>, "
            "the tag 1-16 lowercase letters or digits)"
        )
    return run_id


def model_of(run_id: str) -> str:
    return check_run_id(run_id).split("-", 1)[0]


def write_json_atomic(path: Path, data) -> None:
    """Write JSON to a temporary file beside `path`, fsync it, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)  # mkstemp makes it private; registry files are readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Run:
    run_id: str
    path: Path

    @property
    def model(self) -> str:
        return model_of(self.run_id)

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def read_json(self, name: str):
        with open(self.path / name) as f:
            return json.load(f)

    @property
    def info(self) -> dict:
        return self.read_json(RUN_MARKER)


class Registry:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root or registry_dir()).resolve()

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def tmp_dir(self) -> Path:
        return self.root / ".tmp"

    @property
    def active_file(self) -> Path:
        return self.root / "active.json"

    # -- reading ---------------------------------------------------------------------------

    def run(self, run_id: str) -> Run:
        path = self.runs_dir / check_run_id(run_id)
        if path.is_symlink() or not (path / RUN_MARKER).is_file():
            raise RegistryError(f"run {run_id} does not exist or is incomplete")
        problem = self._model_problem(run_id, path)
        if problem:
            raise RegistryError(problem)
        return Run(run_id, path)

    def list_runs(self, model: str | None = None) -> list[Run]:
        """Complete runs, newest first, optionally for one model. Symbolic links, and runs whose
        files record another model than their id names, are left out."""
        if model is not None:
            check_model_name(model)
        runs = []
        with contextlib.suppress(OSError):
            for path in self.runs_dir.iterdir():
                if not RUN_ID_PATTERN.fullmatch(path.name) or path.is_symlink():
                    continue
                if not (path / RUN_MARKER).is_file() or self._model_problem(path.name, path):
                    continue
                if model is None or model_of(path.name) == model:
                    runs.append(Run(path.name, path))
        return sorted(runs, key=lambda r: r.run_id.split("-", 1)[1], reverse=True)

    @staticmethod
    def _model_problem(run_id: str, path: Path) -> str | None:
        """Why the run's own files say it is not the model its id names (None if they agree or
        say nothing)."""
        expected = model_of(run_id)
        for name in (RUN_MARKER, CONFIG_FILE):
            try:
                with open(path / name) as f:
                    recorded = json.load(f)
            except (OSError, ValueError):
                continue
            found = recorded.get("model") if isinstance(recorded, dict) else None
            if found is not None and found != expected:
                return (
                    f"run {run_id} holds a {found!s:.20} model, not a {expected} model "
                    f"(its {name} says so); refusing to use it as one"
                )
        return None

    def active_problem(self) -> str | None:
        """What is wrong with active.json, if anything (a missing file is not a problem)."""
        return self._read_active()[1]

    def _read_active(self) -> tuple[dict, str | None]:
        try:
            with open(self.active_file) as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}, None
        except IsADirectoryError:
            return {}, f"{self.active_file} is a folder, not a file"
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or "not valid JSON"
            return {}, f"{self.active_file} cannot be read ({reason})"
        if not isinstance(data, dict):
            kind = JSON_KINDS.get(type(data), "value")
            return {}, f"{self.active_file} is damaged (a JSON {kind}, not an object)"
        return {m: data[m] for m in MODEL_NAMES if isinstance(data.get(m), str)}, None

    def active_ids(self) -> dict:
        """{model: run id} from active.json; {} (never an exception) when it is damaged."""
        return self._read_active()[0]

    def active_run(self, model: str) -> Run:
        check_model_name(model)
        active, problem = self._read_active()
        run_id = active.get(model)
        if run_id is None:
            raise RegistryError(problem or f"no active {model} model in {self.root}")
        return self.run(run_id)

    # -- writing ---------------------------------------------------------------------------

    def activate(self, run_id: str) -> Run:
        """Make a run the active one of its model, and record it in the activation history.
        RegistryError (one clear sentence) for a bad id, a missing run, a run of another model,
        or a registry that cannot be written."""
        run = self.run(run_id)
        with self._writing(f"cannot activate {run_id}"):
            previous = self.active_ids().get(run.model)
            self._set_active(run, f"cannot activate {run_id}")
            history = activations.read_history(self.root)
            history[run.model] = activations.pushed(
                history.get(run.model, []), previous, run.run_id
            )
            write_json_atomic(self.root / activations.HISTORY_FILE, history)
        return run

    def _set_active(self, run: Run, failure: str) -> None:
        active = self.active_ids()
        active[run.model] = run.run_id
        if self.active_file.is_dir() and not self.active_file.is_symlink():
            raise RegistryError(f"{failure}: {self.active_file} is a folder")
        try:
            write_json_atomic(self.active_file, active)
        except PermissionError:
            raise RegistryError(f"{failure}: no permission to write in {self.root}") from None
        except OSError as exc:
            raise RegistryError(
                f"{failure}: {self.active_file} cannot be written ({exc.strerror or exc})"
            ) from None

    @contextlib.contextmanager
    def _writing(self, failure: str):
        """Hold the registry's lock file; a registry that cannot be written is one RegistryError
        starting with `failure`."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = open(self.root / LOCK_FILE, "a")  # noqa: SIM115 (closed below)
        except PermissionError:
            raise RegistryError(f"{failure}: no permission to write in {self.root}") from None
        except OSError as exc:
            raise RegistryError(f"{failure}: {self.root} cannot be written ({exc})") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            except PermissionError:
                raise RegistryError(f"{failure}: no permission to write in {self.root}") from None
            except OSError as exc:
                raise RegistryError(f"{failure}: {exc.strerror or exc}") from None
        finally:
            lock.close()  # closing releases the lock

    def activation_history(self, model: str) -> list[dict]:
        """The runs made active for `model`, oldest first, the active one last."""
        check_model_name(model)
        entries = activations.read_history(self.root).get(model, [])
        return activations.reconciled(entries, self.active_ids().get(model))

    def previous_active(self, model: str) -> str | None:
        """The run a rollback would make active again; None when there is none."""
        check_model_name(model)
        try:
            target, _ = activations.rollback_target(
                activations.read_history(self.root).get(model, []),
                self.active_ids().get(model),
                self._exists,
            )
        except ValueError:
            return None
        return target

    def rollback(self, model: str) -> Run:
        """Make the previously active run of `model` active again (runs deleted since are
        skipped). RegistryError when there is no earlier run or the registry cannot be written."""
        check_model_name(model)
        failure = f"cannot roll back the {model} model"
        with self._writing(failure):
            history = activations.read_history(self.root)
            try:
                target, entries = activations.rollback_target(
                    history.get(model, []), self.active_ids().get(model), self._exists
                )
            except ValueError as exc:
                raise RegistryError(f"{failure}: {exc}") from None
            run = self.run(target)
            self._set_active(run, failure)
            history[model] = entries
            write_json_atomic(self.root / activations.HISTORY_FILE, history)
        return run

    def _exists(self, run_id: str) -> bool:
        try:
            self.run(run_id)
        except RegistryError:
            return False
        return True

    def delete(self, run_id: str) -> None:
        """Delete a run for good. The active run of a model is refused, and so is every run
        while active.json cannot be read (which run is active is then unknown)."""
        run = self.run(run_id)
        failure = f"cannot delete {run_id}"
        with self._writing(failure):
            active, problem = self._read_active()
            if problem:
                raise RegistryError(f"{failure}: {problem}, so the active runs are unknown")
            if run_id in active.values():
                raise RegistryError(
                    f"{failure}: it is the active {run.model} model; make another run active first"
                )
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            doomed = self.tmp_dir / f"{DELETING_PREFIX}{run_id}-{secrets.token_hex(3)}"
            os.replace(run.path, doomed)  # gone from runs/ at once; the files go next
            shutil.rmtree(doomed, ignore_errors=True)

    def notes(self, run_id: str) -> RunNotes:
        """A run's note and tags (empty when it has none)."""
        return read_notes(self.run(run_id).path)

    def annotate(self, run_id: str, note: str = "", tags=()) -> RunNotes:
        """Replace a run's note and tags. RegistryError for text that is too long, tags that are
        not short words, or a run folder that cannot be written."""
        run = self.run(run_id)
        try:
            checked = checked_notes(note, tags)
        except ValueError as exc:
            raise RegistryError(f"cannot save the note of {run_id}: {exc}") from None
        with self._writing(f"cannot save the note of {run_id}"):
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            write_json_atomic(run.path / NOTES, notes_json(checked, stamp))
        return checked

    def clean_stale_staging(self) -> list[str]:
        """Remove every folder in .tmp/ (runs left half-written by a crash or a kill). Only call
        this while holding the one-job training lock (mimo.app.jobs.training_lock): then no run is
        being written. Returns the names removed."""
        removed = []
        with contextlib.suppress(OSError):
            for path in self.tmp_dir.iterdir():
                if path.is_symlink() or not path.is_dir():
                    with contextlib.suppress(OSError):
                        path.unlink()
                else:
                    shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
        return removed

    def staging_dir(self, run_id: str) -> Path:
        """A fresh directory to write a run into before it is published."""
        path = self.tmp_dir / check_run_id(run_id)
        path.mkdir(parents=True, exist_ok=False)
        return path

    def publish(self, run_id: str) -> Run:
        """Move a fully written staging directory into runs/ with one atomic rename."""
        staging = self.tmp_dir / check_run_id(run_id)
        if not (staging / RUN_MARKER).is_file():
            raise RegistryError(f"run {run_id} is not complete; refusing to publish it")
        problem = self._model_problem(run_id, staging)
        if problem:
            raise RegistryError(problem)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        target = self.runs_dir / run_id
        if target.exists():
            raise RegistryError(f"run {run_id} already exists")
        os.replace(staging, target)
        return Run(run_id, target)

    def discard_staging(self, run_id: str) -> None:
        shutil.rmtree(self.tmp_dir / check_run_id(run_id), ignore_errors=True)

    def find_run_dir(self, run_id: str) -> Path | None:
        """Where a run's files are now: published, still staging, or nowhere."""
        for base in (self.runs_dir, self.tmp_dir):
            path = base / check_run_id(run_id)
            if path.is_dir():
                return path
        return None
