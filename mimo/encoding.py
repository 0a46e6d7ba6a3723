"""Label and image encodings shared by both models (mimo.tasks says which model uses which).

- Colour model: the digit is drawn into the red or the green channel of an RGB image;
  colour label 0 = red, 1 = green.
- Sum model: the grey digit as one channel; the random number 0-9 is one-hot over 10,
  the sum digit + number is one-hot over 19.
"""

from __future__ import annotations

import numpy as np

NUM_DIGITS = 10
NUM_NUMBERS = 10
NUM_SUMS = 19
COLOR_NAMES = ("red", "green")
RED, GREEN = 0, 1  # colour labels, and the channel each colour is drawn in


def one_hot(values, depth: int) -> np.ndarray:
    """One-hot encode integer values into float32 rows of length `depth`."""
    values = np.asarray(values, dtype=np.int64)
    if values.size and (values.min() < 0 or values.max() >= depth):
        raise ValueError(f"values must lie in [0, {depth - 1}], got {values.min()}..{values.max()}")
    return np.eye(depth, dtype=np.float32)[values]


def encode_number(numbers) -> np.ndarray:
    """The random-number input of the sum model: one-hot over 0-9."""
    return one_hot(numbers, NUM_NUMBERS)


def sum_labels(digits, numbers) -> np.ndarray:
    """The true sum class (0-18) for each digit/number pair."""
    return np.asarray(digits, dtype=np.int64) + np.asarray(numbers, dtype=np.int64)


def encode_sum(digits, numbers) -> np.ndarray:
    """The sum head's target: digit + number, one-hot over 19."""
    return one_hot(sum_labels(digits, numbers), NUM_SUMS)


def unit_range(images) -> np.ndarray:
    """Images as float32 in [0, 1]: uint8 ones scaled down, float ones (already 0-1) kept."""
    images = np.asarray(images)
    return (
        images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    )


def grey_input(images, paired=None) -> np.ndarray:
    """The sum model's image input: each grey digit as one channel, float32 (N, 28, 28, 1), 0-1.

    images: (N, 28, 28) uint8 or float in [0, 1]. `paired` (the numbers) is not part of the
    image: the sum model takes it as its second input.
    """
    return unit_range(images)[..., None]


def colorize(images, colors) -> np.ndarray:
    """The colour model's encoding: put each grey digit into the red (0) or green (1) channel.

    images: (N, 28, 28) uint8 or float in [0, 1]; colors: (N,) of 0/1.
    Returns float32 (N, 28, 28, 3) in [0, 1] on a black background.
    """
    grey = unit_range(images)
    colors = np.asarray(colors, dtype=np.int64)
    out = np.zeros(grey.shape + (3,), dtype=np.float32)
    out[colors == RED, ..., 0] = grey[colors == RED]
    out[colors == GREEN, ..., 1] = grey[colors == GREEN]
    return out
