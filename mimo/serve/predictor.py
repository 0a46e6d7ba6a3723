"""Both models, loaded once, predicting one prepared digit at a time.

Single images go through one `tf.function` that runs both models and the "one digit?" detector
together, instead of `model.predict()`, which costs tens of milliseconds of per-call setup. One
graph for all three is one call from Python, and TensorFlow runs the three networks side by side
on the machine's cores: 3.5 ms here, against 6 ms for a function per network. A Predictor is
read-only after construction and safe to share between threads (Streamlit sessions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mimo.encoding import NUM_NUMBERS
from mimo.runs.registry import Registry, RegistryError, Run
from mimo.tasks import DIGIT, TASKS, Task, pack, task


@dataclass(frozen=True)
class HeadResult:
    """One head's answer for one input."""

    index: int  # the predicted class
    value: int | str  # as reported: the class number, or its name ("green")
    confidence: float  # the predicted class's probability
    probs: np.ndarray  # (classes,) every class's probability


@dataclass(frozen=True)
class ModelPrediction:
    """One model's answer for one input: a result per head, in the model's head order."""

    model: str  # the model's name in mimo.tasks
    heads: dict[str, HeadResult]

    @property
    def task(self) -> Task:
        return task(self.model)

    def to_json(self) -> dict:
        row = {}
        for name, result in self.heads.items():
            row[name] = result.value
            row[f"{name}_confidence"] = round(result.confidence, 6)
        return row

    def value(self, head: str) -> int | str:
        """A head's answer: the class number, or its name ("green")."""
        return self.heads[head].value


# Below this chance that the models name the same digit, they are not sure which digit the
# input is (they disagree, or agree without conviction): it is not one clear digit, whatever
# the detector says. Chosen on the models' validation digits drawn as python -m bench.robustness
# draws test digits (1,503 pictures a set): it flags 0.08 points more of them on average (0.4
# at most, on ruled paper); 0.25 would flag 0.19 more (0.53 at most).
MIN_DIGIT_AGREEMENT = 0.2


@dataclass(frozen=True)
class Prediction:
    number: int
    models: dict[str, ModelPrediction]  # by model name, in the order of mimo.tasks.TASKS
    # Whether the input looks like one handwritten digit: False for letters, symbols, scribbles,
    # shapes, several digits, a lone dot or a line. digit_score is the detector's P(one digit)
    # (mimo.serve.detector); digit_agreement is the chance that the models name the same digit
    # (`digit_agreement`). is_digit needs both: the detector's score at its threshold, and the
    # agreement at MIN_DIGIT_AGREEMENT.
    is_digit: bool = True
    digit_score: float = 1.0
    digit_agreement: float = 1.0

    @property
    def models_agree(self) -> bool:
        """Whether every model reads the same digit."""
        return len({m.heads[DIGIT.name].value for m in self.models.values()}) <= 1

    @property
    def models_unsure(self) -> bool:
        """The models are not sure which digit this is (see MIN_DIGIT_AGREEMENT)."""
        return self.digit_agreement < MIN_DIGIT_AGREEMENT

    def to_json(self) -> dict:
        return {
            "number": self.number,
            **{task(name).json_key: m.to_json() for name, m in self.models.items()},
            "is_digit": bool(self.is_digit),
            "digit_score": round(float(self.digit_score), 6),
            "digit_agreement": round(float(self.digit_agreement), 6),
        }


def digit_agreement(models: Mapping[str, ModelPrediction]) -> float:
    """The chance that the models, each naming a digit with its own probabilities, all name the
    same one: the sum over the digits of the product of their probabilities."""
    together = np.ones(DIGIT.classes)
    for result in models.values():
        together = together * result.heads[DIGIT.name].probs
    return float(together.sum())


def decode(model_task: Task, outputs) -> ModelPrediction:
    """A model's outputs for one input (a batch of one) as its prediction."""
    heads = {}
    for head in model_task.heads:
        # float64, so a sigmoid head's 1 - p is exact
        probs = head.probabilities(np.asarray(outputs[head.name], np.float64))
        chosen, confidence = head.decide(probs)
        index = int(chosen[0])
        heads[head.name] = HeadResult(index, head.value(index), float(confidence[0]), probs[0])
    return ModelPrediction(model_task.name, heads)


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
    """Loads the models of the given runs (one per model in mimo.tasks) and predicts single
    digits quickly.

    It also loads the "is this one digit?" detector shipped in the package (mimo.serve.detector),
    whatever registry the runs come from; pass `detector` to use another one. `runs` and
    `models` are keyed by model name.
    """

    def __init__(
        self,
        runs: Mapping[str, Run],
        models: Mapping | None = None,
        notes=(),
        detector=None,
    ):
        from mimo.models import load_model
        from mimo.serve.detector import DigitDetector

        models = models or {}
        self.runs = {name: runs[name] for name in TASKS}
        self.notes = list(notes)  # what had to be skipped to find usable models
        self.detector = detector or DigitDetector.load()
        self.models = {
            name: models[name] if models.get(name) is not None else load_model(run.model_path)
            for name, run in self.runs.items()
        }
        self._networks = _fast_call(self.models, self.detector.model)
        self._warm_up()

    @classmethod
    def from_registry(cls, registry: Registry | None = None) -> Predictor:
        """The active run of each model, falling back to the newest loadable run of a model whose
        active file is damaged (see `notes`). Raises RegistryError if a model has no usable run."""
        registry = registry or Registry()
        runs, models, notes = {}, {}, []
        for name in TASKS:
            runs[name], models[name], skipped = load_usable_model(registry, name)
            notes += skipped
        return cls(runs, models, notes)

    @property
    def run_ids(self) -> tuple[str, ...]:
        """The runs' ids, in the order of mimo.tasks.TASKS."""
        return tuple(run.run_id for run in self.runs.values())

    def _warm_up(self) -> None:
        """Trace the networks' function once so the first real prediction is fast."""

        def zeros(shape):
            return np.zeros((1, *shape), np.float32)

        inputs = {
            name: {key: zeros(shape) for key, shape in t.input_shapes().items()}
            for name, t in TASKS.items()
        }
        self._networks(inputs, zeros((28, 28, 1)))

    def predict(self, prepared, number: int) -> Prediction:
        """prepared: a mimo.serve.preprocess.PreparedDigit; number: the random number 0-9."""
        if not 0 <= int(number) < NUM_NUMBERS:
            raise ValueError(f"number must be 0-9, got {number}")
        inputs = {
            name: {key: value[None] for key, value in t.serving_inputs(prepared, number).items()}
            for name, t in TASKS.items()
        }
        grey = np.asarray(prepared.grey, np.float32)[None, ..., None]
        outputs, score = self._networks(inputs, grey)
        models = {name: decode(t, outputs[name]) for name, t in TASKS.items()}
        score = float(np.asarray(score).reshape(-1)[0])
        agreement = digit_agreement(models)
        return Prediction(
            number=int(number),
            models=models,
            is_digit=self.detector.is_digit(score, prepared.cut_by_edge)
            and agreement >= MIN_DIGIT_AGREEMENT,
            digit_score=score,
            digit_agreement=agreement,
        )


def _fast_call(models: Mapping, detector):
    """One tf.function (one trace per input shape) of every model and the detector:
    (inputs by model name, grey image) -> (outputs by model name, the detector's score)."""
    import tensorflow as tf

    def networks(inputs, grey):
        outputs = {name: m(pack(inputs[name]), training=False) for name, m in models.items()}
        return outputs, detector(grey, training=False)

    return tf.function(networks)


__all__ = [
    "Predictor",
    "Prediction",
    "ModelPrediction",
    "HeadResult",
    "decode",
    "digit_agreement",
    "MIN_DIGIT_AGREEMENT",
    "RegistryError",
]
