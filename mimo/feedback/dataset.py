"""The collection as data: which rows are held back for evaluation, the mnist.npz-layout file it
is exported as (and imported from), and the rows training mixes into MNIST.

The held-back rows are chosen by a hash of each row's digest (the hash of the picture as it was
saved), so a row stays on its side as the collection grows, and when it is relabelled: about
HELD_BACK_SHARE of the rows, never trained on, always evaluated on. A tiny collection would
often have too few such rows to evaluate on, so the MIN_HELD_BACK rows with the smallest hashes
are held back too, and the row with the largest hash is trained on when every other row is
held back; once the collection holds that many rows under the share (about ten rows in all)
neither changes anything.

The export is keras's mnist.npz layout: x_train/y_train are the rows training uses, x_test/
y_test the held-back rows, uint8 (N, 28, 28) grey pictures and their labels, written beside the
target and renamed over it. `python -m mimo train --data FILE` reads it (mimo.train.data.
load_npz); the trainer tests on at least MIN_HELD_BACK pictures (the projector's 2-D map needs
two), so a collection of fewer than MIN_TO_EXPORT digits cannot be exported.

Nothing here imports Streamlit or TensorFlow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mimo.feedback.errors import FeedbackError

if TYPE_CHECKING:
    from mimo.feedback.store import CollectionArrays, FeedbackStore

HELD_BACK_SHARE = 0.2  # of the collection, held back for evaluation (never trained on)
MIN_HELD_BACK = 2  # held back however small the collection: the trainer tests on 2 pictures
MIN_TO_TRAIN = 1  # rows left to train on
MIN_TO_EXPORT = MIN_HELD_BACK + MIN_TO_TRAIN  # the smallest collection that makes a usable file
HASH_PERSON = b"mimo-held-back"  # personalises the hash: unrelated to any other use of the digest
HASH_BYTES = 8  # of the hash, read as a fraction in [0, 1)
FILE_MODE = 0o644  # of an exported file, as open() would make it under a usual umask
IMPORT_SOURCE = "import"  # the source of rows added from a file


class NotEnoughDigits(FeedbackError):
    """The collection is too small for what was asked (an export, a training run)."""


# ---------------------------------------------------------------------------------------------
# The held-back rows


def hash_fraction(digest: str) -> float:
    """A row's place in [0, 1), from its digest alone: the same for the row forever."""
    hashed = hashlib.blake2b(digest.encode("ascii"), digest_size=HASH_BYTES, person=HASH_PERSON)
    return int.from_bytes(hashed.digest(), "big") / 2 ** (8 * HASH_BYTES)


def held_back_mask(digests) -> np.ndarray:
    """(N,) bool: the rows held back for evaluation (see the module docstring)."""
    fractions = np.asarray([hash_fraction(d) for d in digests], np.float64)
    held = fractions < HELD_BACK_SHARE
    lowest = np.argsort(fractions, kind="stable")[:MIN_HELD_BACK]
    held[lowest] = True
    if held.all() and len(held) > MIN_HELD_BACK:  # all hashed under the share: one trains
        held[np.argmax(fractions)] = False
    return held


def rows(arrays: CollectionArrays, mask: np.ndarray) -> CollectionArrays:
    """The rows of `arrays` where `mask` is true, in their order, as a CollectionArrays."""
    mask = np.asarray(mask, bool)
    picked = np.flatnonzero(mask)
    return dataclasses.replace(
        arrays,
        ids=arrays.ids[mask],
        labels=arrays.labels[mask],
        grey=arrays.grey[mask],
        rgb=arrays.rgb[mask],
        inks=[arrays.inks[i] for i in picked],
        numbers=arrays.numbers[mask],
        digests=[arrays.digests[i] for i in picked],
        sources=[arrays.sources[i] for i in picked],
    )


@dataclass(frozen=True)
class Split:
    """The collection cut in two: the rows training uses, and the held-back rows."""

    training: CollectionArrays
    held_back: CollectionArrays

    @property
    def sizes(self) -> tuple[int, int]:
        return len(self.training.labels), len(self.held_back.labels)


def split(arrays: CollectionArrays) -> Split:
    held = held_back_mask(arrays.digests)
    return Split(training=rows(arrays, ~held), held_back=rows(arrays, held))


def check_size(arrays: CollectionArrays, action: str) -> None:
    """NotEnoughDigits, saying why, unless the collection can be split into at least
    MIN_TO_TRAIN rows to train on and MIN_HELD_BACK held back. `action`: "export", "train
    with"."""
    n = len(arrays.labels)
    if n == 0:
        raise NotEnoughDigits(
            f"Your collection is empty, so there is nothing to {action}: save digits on the "
            "Predict page (or import a file with `python -m mimo feedback import FILE`)."
        )
    if n < MIN_TO_EXPORT:
        raise NotEnoughDigits(
            f"Your collection has {digit_count(n)}; to {action} it, it needs at least "
            f"{MIN_TO_EXPORT}: {MIN_HELD_BACK} are always held back to evaluate on, and at "
            f"least {MIN_TO_TRAIN} is left to train on."
        )


def digit_count(n: int) -> str:
    """ "1 digit", "1,200 digits"."""
    return f"{n:,} digit" + ("" if n == 1 else "s")


# ---------------------------------------------------------------------------------------------
# Export and import


def npz_bytes(arrays: CollectionArrays) -> bytes:
    """The collection as an mnist.npz-layout file's bytes (the rows to train on as x_train and
    y_train, the held-back rows as x_test and y_test); NotEnoughDigits for a tiny collection."""
    check_size(arrays, "export")
    parts = split(arrays)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        x_train=np.asarray(parts.training.grey, np.uint8),
        y_train=np.asarray(parts.training.labels, np.uint8),
        x_test=np.asarray(parts.held_back.grey, np.uint8),
        y_test=np.asarray(parts.held_back.labels, np.uint8),
    )
    return buffer.getvalue()


def export_npz(arrays: CollectionArrays, path: str | os.PathLike) -> Split:
    """Write the collection to `path` in the mnist.npz layout (see npz_bytes): into a temporary
    file beside it, renamed over it, so `path` is the old file or the whole new one. Returns the
    split that was written. NotEnoughDigits for a tiny collection; OSError if it cannot be
    written (nothing is left behind)."""
    content = npz_bytes(arrays)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return split(arrays)


def import_npz(path: str | os.PathLike, store: FeedbackStore) -> int:
    """Add every picture of an mnist.npz-layout file (both splits) to the store, as source
    "import"; returns the rows added. The file is checked as training checks it
    (mimo.train.data.DataUnavailable says what is wrong); the store's errors pass through."""
    from mimo.train.data import load_npz

    data = load_npz(path)
    labels = np.concatenate([data.y_train, data.y_test]).astype(np.uint8)
    grey = np.concatenate([data.x_train, data.x_test]).astype(np.uint8)
    return store.add_many(labels, grey, source=IMPORT_SOURCE)


# ---------------------------------------------------------------------------------------------
# What training mixes into MNIST


def repeated(training: CollectionArrays, weight: int) -> tuple[np.ndarray, np.ndarray]:
    """(grey pictures (N * weight, 28, 28) uint8, labels (N * weight,) uint8): every row to
    train on `weight` times, so that each counts as much as `weight` MNIST images in an epoch
    (the training pipeline shuffles and augments each copy on its own)."""
    images = np.repeat(np.asarray(training.grey, np.uint8), weight, axis=0)
    labels = np.repeat(np.asarray(training.labels, np.uint8), weight, axis=0)
    return images, labels
