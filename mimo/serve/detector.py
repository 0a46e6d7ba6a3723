"""Is this one digit? A small CNN on the 28x28 grey input the models see.

The detector scores `PreparedDigit.grey` (from mimo.serve.preprocess.prepare): about 1 for one
handwritten digit, about 0 for letters, symbols, scribbles, shapes, several digits side by
side, a lone dot or a line. It ships inside the package (mimo/serve/detector_model/), so it is there
whatever registry is used, with a JSON file that holds the threshold and the measured figures
(see mimo.train.detector_training, which writes both).

A score below the threshold means "not a single digit". The threshold was chosen on
validation digits for a false-alarm rate of at most 0.2% on them (the rate on unseen MNIST
test digits is in digit_detector.json). A drawing whose ink reaches the picture's edge
(`PreparedDigit.cut_by_edge`) has a lower threshold of its own, `cut_threshold`: a real digit
cut by the edge of the canvas (a 0 left as a C) looks odd, and the page tells the user
what to do about it anyway.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DETECTOR_DIR = Path(__file__).resolve().parent / "detector_model"
MODEL_FILE = "digit_detector.keras"
INFO_FILE = "digit_detector.json"
DEFAULT_THRESHOLD = 0.5


def build_model():
    """The detector network: 28x28x1 grey -> P(one digit). 137,393 parameters."""
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), name="image")
    x = inputs
    for filters in (16, 32):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="is_digit")(x)
    return keras.Model(inputs, outputs, name="digit_detector")


class DigitDetector:
    """The shipped detector, loaded once, with its thresholds. `scores()` scores a batch; the
    Predictor runs `model` on single images in one graph with the digit models."""

    def __init__(
        self,
        model,
        threshold: float = DEFAULT_THRESHOLD,
        info: dict | None = None,
        cut_threshold: float | None = None,
    ):
        self.model = model
        self.threshold = float(threshold)
        self.cut_threshold = self.threshold if cut_threshold is None else float(cut_threshold)
        self.info = dict(info or {})

    @classmethod
    def load(cls, folder: Path | str = DETECTOR_DIR) -> DigitDetector:
        import keras

        folder = Path(folder)
        info = json.loads((folder / INFO_FILE).read_text())
        model = keras.saving.load_model(folder / MODEL_FILE, compile=False, safe_mode=True)
        threshold = info.get("threshold", DEFAULT_THRESHOLD)
        return cls(model, threshold, info, info.get("cut_threshold", threshold))

    def scores(self, greys: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """P(one digit) for many (N, 28, 28) images (none: an empty array)."""
        greys = np.asarray(greys, np.float32).reshape(-1, 28, 28, 1)
        if len(greys) == 0:
            return np.zeros(0, np.float32)
        return self.model.predict(greys, batch_size=batch_size, verbose=0).reshape(-1)

    def is_digit(self, score: float, cut_by_edge: bool = False) -> bool:
        """Whether a score means one digit; cut_by_edge: the ink reaches the picture's edge."""
        return bool(score >= (self.cut_threshold if cut_by_edge else self.threshold))


__all__ = ["DigitDetector", "build_model", "DETECTOR_DIR"]
