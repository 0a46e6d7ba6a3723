"""Paths and limits shared by the package, the CLI and the app.

Everything a deployment may want to change is read from an environment variable here,
so no other module needs to know about the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The registry of training runs. The repository ships the active runs in assets/models.
DEFAULT_REGISTRY_DIR = PROJECT_ROOT / "assets" / "models"


def registry_dir() -> Path:
    """The registry root: MIMO_REGISTRY if set (read at call time), else assets/models."""
    return Path(os.environ.get("MIMO_REGISTRY") or DEFAULT_REGISTRY_DIR)


# Model names, as used on the command line, in run names and in the registry.
MODEL_NAMES = ("color", "sum")

# Input limits, enforced in mimo.preprocess whatever the front end did before.
MAX_UPLOAD_BYTES = int(os.environ.get("MIMO_MAX_UPLOAD_BYTES", 5 * 1024 * 1024))
MAX_IMAGE_PIXELS = int(os.environ.get("MIMO_MAX_IMAGE_PIXELS", 25_000_000))

# Training limits for jobs started from the app.
MAX_EPOCHS = int(os.environ.get("MIMO_MAX_EPOCHS", 50))
MAX_TRAIN_SIZE = int(os.environ.get("MIMO_MAX_TRAIN_SIZE", 60_000))


def env_flag(name: str, default: bool = False) -> bool:
    """Read a yes/no environment variable ("1", "true", "yes", "on" mean yes)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}
