"""The commands that read pictures: `predict` and `explain` (mimo.cli parses their arguments).

Every image is isolated: whatever goes wrong with one file, the batch goes on, as an error row
(and a non-zero exit status), and decoder warnings come out as at most one line per file.
`explain` writes each model's attribution map per head as an enlarged PNG
(mimo.serve.explain.attribution_heatmap) and prints one JSON line per image with the answers,
the maps' paths and the image/number split of the sum model's answer, in percent.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

EXPLANATIONS_DIR = "explanations"  # explain's default --out, under the current directory
MAP_SCALE = 10  # explain's PNGs are 28 * MAP_SCALE pixels wide, each input pixel a square


def cmd_predict(args) -> int:
    predictor = _load_predictor(args)
    failed = False
    rows = []
    for image, prepared, error in _prepared_images(args.images):
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


def _load_predictor(args):
    """The active models (with their fallbacks named on stderr); decoding workers start while
    they load."""
    from mimo.cli import CliError
    from mimo.runs.registry import Registry, RegistryError
    from mimo.serve import decode
    from mimo.serve.decode.memory import hand_big_buffers_back_when_freed
    from mimo.serve.predictor import Predictor

    hand_big_buffers_back_when_freed()  # big pictures' buffers go back to the system when freed
    decode.warm_up()  # decoding workers start while the models load
    try:
        predictor = Predictor.from_registry(Registry(args.registry))
    except (RegistryError, OSError, ValueError) as exc:
        raise CliError(f"cannot load the models: {exc}") from exc
    for note in predictor.notes:
        print(f"warning: {note}", file=sys.stderr)
    return predictor


def _prepared_images(images):
    """(image, prepared digit or None, error message or None) per file, in the order given.

    Files are read (decoded in worker processes) a few at a time, ahead of the caller's work;
    a file's first decoder warning goes to stderr.
    """
    with ThreadPoolExecutor(max_workers=PREDICT_READ_AHEAD) as readers:
        for image, (prepared, error, notes) in zip(
            images, readers.map(_prepare_isolated, images), strict=True
        ):
            for note in notes[:1]:
                print(f"warning: {image}: {note}", file=sys.stderr)
            yield image, prepared, error


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
    header = f"{'image':<40} {'digit':>5} {'colour':>12} {'digit':>5} {'sum':>9} {'one digit?':>10}"
    lines = [f"{'':<40} {'colour model':^18} {'sum model':^15}", header]
    for row in rows:
        name = row["image"] if len(row["image"]) <= 40 else "..." + row["image"][-37:]
        if "error" in row:
            lines.append(f"{name:<40} error: {row['error']}")
            continue
        c, s = row["color_model"], row["sum_model"]
        lines.append(
            f"{name:<40} {c['digit']:>5} {c['color']:>6} {c['color_confidence']:>4.0%} "
            f"{s['digit']:>5} {s['sum']:>3} {s['sum_confidence']:>4.0%} "
            f"{'yes' if row['is_digit'] else 'no':>10}"
        )
    return "\n".join(lines)


def cmd_explain(args) -> int:
    from mimo.cli import CliError
    from mimo.serve.explain import Explainer

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create the folder {out}: {exc.strerror or exc}") from exc
    predictor = _load_predictor(args)
    explainers = {name: Explainer(model) for name, model in predictor.models.items()}
    failed = False
    for image, prepared, error in _prepared_images(args.images):
        if error is None:
            try:
                row = {
                    "image": image,
                    **explanation(predictor, explainers, prepared, args.number, out, image),
                }
            except OSError as exc:
                row = {"image": image, "error": f"cannot write a map: {exc.strerror or exc}"}
            except Exception as exc:  # the last line of defence: the batch goes on
                row = {"image": image, "error": _unexpected(exc)}
        else:
            row = {"image": image, "error": error}
        failed |= "error" in row
        print(json.dumps(row), flush=True)
    return 1 if failed else 0


def explanation(predictor, explainers, prepared, number: int, out: Path, image: str) -> dict:
    """One image's explain row, less its name: each model's answers and maps (written to
    `out`, named after the image), and the split of the first model with more than one input,
    in percent."""
    from mimo.serve.explain import explain, split_percent
    from mimo.tasks import IMAGE_INPUT

    prediction = predictor.predict(prepared, number)
    row = {"number": number, "is_digit": bool(prediction.is_digit)}
    splits = []
    for name, result in prediction.models.items():
        maps, split = explain(explainers[name], result, prepared, number)
        seen = result.task.serving_inputs(prepared, number)[IMAGE_INPUT]
        entry = {head: answer.value for head, answer in result.heads.items()}
        entry["maps"] = {
            m.head: _write_map(out / f"{Path(image).stem}-{name}-{m.head}.png", m, seen)
            for m in maps
        }
        if len(split) > 1:
            entry["split"] = split_percent(split)
            splits.append(entry["split"])
        row[result.task.json_key] = entry
    if splits:
        row["split"] = splits[0]
    return row


def _write_map(path: Path, attribution, seen) -> str:
    """The head's heatmap as a PNG, each input pixel a MAP_SCALE-pixel square; its path."""
    from PIL import Image

    from mimo.serve.explain import attribution_heatmap

    heat = Image.fromarray(attribution_heatmap(attribution.pixels, seen))
    heat.resize((heat.width * MAP_SCALE, heat.height * MAP_SCALE), Image.Resampling.NEAREST).save(
        path, format="PNG"
    )
    return str(path)
