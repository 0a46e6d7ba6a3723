"""Test helper: real MNIST digits saved into a real feedback store the way the Predict page saves
them: each digit drawn in red or green on the canvas (its PNG is the original), with the grey
and RGB pictures the models saw and a number for the sum model."""

from __future__ import annotations

import numpy as np

from mimo.encoding import COLOR_NAMES, colorize
from mimo.feedback.store import FeedbackStore, NewExample
from tests.support.digit_images import canvas_picture, encode


def drawn_example(grey: np.ndarray, label: int, ink: str, number: int) -> NewExample:
    """A 28x28 uint8 MNIST digit as the Predict page saves it when drawn in `ink`."""
    rgb = colorize(grey[None], [COLOR_NAMES.index(ink)])[0]
    return NewExample(
        label=int(label),
        grey=np.asarray(grey, np.float32) / 255.0,
        rgb=rgb,
        original=encode(canvas_picture(grey, ink)),
        source="drawing",
        ink=ink,
        number=int(number),
        answers={},
        run_ids={},
    )


def save_drawn_digits(store: FeedbackStore, images, labels, seed: int = 0) -> None:
    """Save every digit, each in a random ink with a random number (fixed by `seed`)."""
    rng = np.random.default_rng(seed)
    for grey, label in zip(images, labels, strict=True):
        ink = COLOR_NAMES[rng.integers(len(COLOR_NAMES))]
        store.save(drawn_example(grey, label, ink, rng.integers(10)))
