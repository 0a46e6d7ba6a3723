"""Both models, loaded once, predicting one prepared digit at a time.

Single images go through a `tf.function` per model instead of `model.predict()`, which costs
tens of milliseconds of per-call setup. A Predictor is read-only after construction and
safe to share between threads (Streamlit sessions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimo.encoding import COLOR_NAMES, NUM_NUMBERS, encode_number
from mimo.runs.registry import Registry, RegistryError, Run


@dataclass(frozen=True)
class ColorPrediction:
    digit: int
    digit_confidence: float
    digit_probs: np.ndarray  # (10,)
    color: str  # "red" or "green"
    color_confidence: float
    color_probs: np.ndarray  # (2,) red, green

    def to_json(self) -> dict:
        return {
            "digit": self.digit,
            "digit_confidence": round(self.digit_confidence, 6),
            "color": self.color,
            "color_confidence": round(self.color_confidence, 6),
        }


@dataclass(frozen=True)
class SumPrediction:
    digit: int
    digit_confidence: float
    digit_probs: np.ndarray  # (10,)
    sum: int
    sum_confidence: float
    sum_probs: np.ndarray  # (19,)

    def to_json(self) -> dict:
        return {
            "digit": self.digit,
            "digit_confidence": round(self.digit_confidence, 6),
            "sum": self.sum,
            "sum_confidence": round(self.sum_confidence, 6),
        }


@dataclass(frozen=True)
class Prediction:
    number: int
    color_model: ColorPrediction
    sum_model: SumPrediction
    # Whether the input looks like one handwritten digit (mimo.serve.detector): False for letters,
    # symbols, scribbles, shapes, several digits, a lone dot or a line. digit_score is the
    # detector's P(one digit); is_digit is digit_score >= the detector's threshold.
    is_digit: bool = True
    digit_score: float = 1.0

    @property
    def models_agree(self) -> bool:
        return self.color_model.digit == self.sum_model.digit

    def to_json(self) -> dict:
        return {
            "number": self.number,
            "color_model": self.color_model.to_json(),
            "sum_model": self.sum_model.to_json(),
            "is_digit": bool(self.is_digit),
            "digit_score": round(float(self.digit_score), 6),
        }


def load_usable_model(registry: Registry, model_name: str):
    """The active run's model, or, if it cannot be loaded, the newest run of that model that can.

    Returns (run, keras model, notes); notes say in words what was skipped and why.
    Raises RegistryError when no run of the model can be loaded.
    """
    from mimo.models import load_model

    notes, candidates = [], []
    try:
        candidates.append(registry.active_run(model_name))
    except RegistryError as exc:
        notes.append(f"{exc}.")
    candidates += [r for r in registry.list_runs(model_name) if r not in candidates]
    for run in candidates:
        try:
            model = load_model(run.model_path)
        except Exception as exc:  # a damaged file fails in many ways (zip, h5, json, Keras)
            notes.append(
                f"The {model_name} model of run {run.run_id} cannot be loaded "
                f"({type(exc).__name__}: {str(exc)[:200]})."
            )
            continue
        if notes:
            notes.append(f"Using run {run.run_id} for the {model_name} model instead.")
        return run, model, notes
    raise RegistryError(" ".join(notes) or f"no usable {model_name} model in {registry.root}")


class Predictor:
    """Loads the two models of the given runs and predicts single digits quickly.

    It also loads the "is this one digit?" detector shipped in the package (mimo.serve.detector),
    whatever registry the runs come from; pass `detector` to use another one.
    """

    def __init__(
        self,
        color_run: Run,
        sum_run: Run,
        color_model=None,
        sum_model=None,
        notes=(),
        detector=None,
    ):
        import tensorflow as tf

        from mimo.models import load_model
        from mimo.serve.detector import DigitDetector

        self.color_run, self.sum_run = color_run, sum_run
        self.notes = list(notes)  # what had to be skipped to find usable models
        self.detector = detector or DigitDetector.load()
        self._color_model = color_model or load_model(color_run.model_path)
        self._sum_model = sum_model or load_model(sum_run.model_path)
        self._color_fn = tf.function(lambda image: self._color_model(image, training=False))
        self._sum_fn = tf.function(
            lambda image, number: self._sum_model(
                {"image": image, "number": number}, training=False
            )
        )
        self._warm_up()

    @classmethod
    def from_registry(cls, registry: Registry | None = None) -> Predictor:
        """The active run of each model, falling back to the newest loadable run of a model whose
        active file is damaged (see `notes`). Raises RegistryError if a model has no usable run."""
        registry = registry or Registry()
        color_run, color_model, color_notes = load_usable_model(registry, "color")
        sum_run, sum_model, sum_notes = load_usable_model(registry, "sum")
        return cls(color_run, sum_run, color_model, sum_model, color_notes + sum_notes)

    @property
    def run_ids(self) -> tuple[str, str]:
        return self.color_run.run_id, self.sum_run.run_id

    def _warm_up(self) -> None:
        """Trace both functions once so the first real prediction is fast."""
        self._color_fn(np.zeros((1, 28, 28, 3), np.float32))
        self._sum_fn(np.zeros((1, 28, 28, 1), np.float32), np.zeros((1, NUM_NUMBERS), np.float32))

    def predict(self, prepared, number: int) -> Prediction:
        """prepared: a mimo.serve.preprocess.PreparedDigit; number: the random number 0-9."""
        if not 0 <= int(number) < NUM_NUMBERS:
            raise ValueError(f"number must be 0-9, got {number}")
        rgb = np.asarray(prepared.rgb, np.float32)[None]
        grey = np.asarray(prepared.grey, np.float32)[None, ..., None]
        color_out = self._color_fn(rgb)
        sum_out = self._sum_fn(grey, encode_number([int(number)]))
        score = self.detector.score(grey)
        return Prediction(
            number=int(number),
            color_model=_color_prediction(color_out),
            sum_model=_sum_prediction(sum_out),
            is_digit=self.detector.is_digit(score),
            digit_score=score,
        )


def _color_prediction(outputs) -> ColorPrediction:
    digit_probs = np.asarray(outputs["digit"])[0]
    p_green = float(np.asarray(outputs["color"]).reshape(-1)[0])
    color_probs = np.array([1.0 - p_green, p_green])
    color = int(p_green >= 0.5)
    return ColorPrediction(
        digit=int(digit_probs.argmax()),
        digit_confidence=float(digit_probs.max()),
        digit_probs=digit_probs,
        color=COLOR_NAMES[color],
        color_confidence=float(color_probs[color]),
        color_probs=color_probs,
    )


def _sum_prediction(outputs) -> SumPrediction:
    digit_probs = np.asarray(outputs["digit"])[0]
    sum_probs = np.asarray(outputs["sum"])[0]
    return SumPrediction(
        digit=int(digit_probs.argmax()),
        digit_confidence=float(digit_probs.max()),
        digit_probs=digit_probs,
        sum=int(sum_probs.argmax()),
        sum_confidence=float(sum_probs.max()),
        sum_probs=sum_probs,
    )


__all__ = ["Predictor", "Prediction", "ColorPrediction", "SumPrediction", "RegistryError"]
