"""Paths and limits shared by the package, the CLI and the app.

Paths and limits come from environment variables read here. Two other settings live next to
the code that uses them: MIMO_MNIST (mimo.train.data) and the retraining lock (mimo.app.access).
"""

from __future__ import annotations

import os
from pathlib import Path

from mimo.tasks import TASKS

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The registry of training runs. The repository ships the active runs in assets/models.
DEFAULT_REGISTRY_DIR = PROJECT_ROOT / "assets" / "models"


def registry_dir() -> Path:
    """The registry root: MIMO_REGISTRY if set (read at call time), else assets/models."""
    return Path(os.environ.get("MIMO_REGISTRY") or DEFAULT_REGISTRY_DIR)


# Model names, as used on the command line, in run names and in the registry: the table of
# models (mimo.tasks) holds them.
MODEL_NAMES = tuple(TASKS)

# Input limits, enforced in mimo.serve.preprocess whatever the front end did before.
MAX_UPLOAD_BYTES = int(os.environ.get("MIMO_MAX_UPLOAD_BYTES", 5 * 1024 * 1024))
MAX_IMAGE_PIXELS = int(os.environ.get("MIMO_MAX_IMAGE_PIXELS", 25_000_000))
# Big pictures (over 4 Mpx) decoded at once per process; each can take ~430 MB while decoding.
MAX_BIG_DECODES = int(os.environ.get("MIMO_MAX_BIG_DECODES", 2))
# Every decode of untrusted bytes runs in a worker process with these hard limits: memory
# (address space) over the worker's own baseline, and CPU seconds per picture.
MAX_DECODE_MEMORY_MB = int(os.environ.get("MIMO_MAX_DECODE_MEMORY_MB", 320))
MAX_DECODE_CPU_S = float(os.environ.get("MIMO_MAX_DECODE_CPU_S", 2))

# Training limits for jobs started from the app: mimo.train.config.APP_LIMITS (the command line
# has its own, CLI_LIMITS, next to it).
MAX_EPOCHS = int(os.environ.get("MIMO_MAX_EPOCHS", 50))
MAX_TRAIN_SIZE = int(os.environ.get("MIMO_MAX_TRAIN_SIZE", 60_000))
