"""A grid of sample test predictions, each framed green (all heads right) or red (a mistake).

Input is the plain samples dict of a run (see mimo.runs.artifacts: image, color_in | number,
<head>_true, <head>_pred, <head>_confidence). The grid is one composite image (the tiles with
their coloured frames) under a scatter layer of correctness markers that carry the hover details,
plus a caption under every tile with the truth, the prediction and the confidences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from mimo.app.plots.png import png_data_url
from mimo.tasks import task

IMAGE = 28
BORDER = 3
TILE = IMAGE + 2 * BORDER  # a framed tile
GAP = 6  # between tiles, across
CAPTION = 24  # room for three caption lines under each tile
CELL_W = TILE + GAP
CELL_H = TILE + CAPTION
SCALE = 3  # the composite is drawn at 3x so the digits stay crisp when enlarged
BACKGROUND = (255, 255, 255)
CORRECT_RGB = (44, 160, 44)
WRONG_RGB = (214, 39, 40)
CORRECT_NAME, WRONG_NAME = "correct", "mistake"


@dataclass(frozen=True)
class SampleCard:
    """One sample prediction, ready to draw."""

    position: int  # index into the samples arrays
    test_index: int  # index of the image in the test split
    image: np.ndarray  # (28, 28, 3) uint8
    correct: bool
    caption: str
    details: str


def _mark(text: str, right: bool) -> str:
    return text if right else f"<span style='color:rgb{WRONG_RGB}'><b>{text}</b></span>"


def sample_cards(
    samples: Mapping, model: str, notes: Sequence[str] | None = None
) -> list[SampleCard]:
    """One card per sample. A sample is correct only when every head is right.

    The captions and hover texts are worded as the model's entry in mimo.tasks says; notes, one
    per sample, add a line to the hover text (another run's answer, say).
    """
    model_task = task(model)
    images = np.asarray(samples["image"])
    n = len(images)
    index = np.asarray(samples.get("index", np.arange(n))).reshape(-1)
    paired_key = model_task.pairing.sample_key
    paired = np.asarray(samples[paired_key])
    # What the model saw, in colour (the grey image input repeated over red, green and blue).
    seen = model_task.image(images, paired)
    rgb = np.repeat(seen, 3, axis=-1) if seen.shape[-1] == 1 else seen
    rgb = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
    heads = {
        head: (
            np.asarray(samples[f"{head.name}_true"]),
            np.asarray(samples[f"{head.name}_pred"]),
            np.asarray(samples[f"{head.name}_confidence"], dtype=np.float64),
        )
        for head in model_task.heads
    }
    truth_line, prediction_line = model_task.sample_caption

    cards = []
    for i in range(n):
        right = {head: bool(true[i] == pred[i]) for head, (true, pred, _) in heads.items()}
        truth = {head.name: head.value(true[i]) for head, (true, _, _) in heads.items()}
        truth[paired_key] = int(paired[i])
        shown = {
            head.name: _mark(str(head.value(pred[i])), right[head])
            for head, (_, pred, _) in heads.items()
        }
        caption = "<br>".join(
            (
                truth_line.format(**truth),
                prediction_line.format(**shown),
                " · ".join(f"{conf[i]:.0%}" for _, _, conf in heads.values()),
            )
        )
        predicted = ", ".join(
            f"{head.title.lower()} {head.value(pred[i])} ({conf[i]:.1%})"
            for head, (_, pred, conf) in heads.items()
        )
        details = (
            f"test image #{index[i]}<br>true: {model_task.sample_truth.format(**truth)}"
            f"<br>predicted: {predicted}"
        )
        correct = all(right.values())
        details += f"<br><b>{CORRECT_NAME if correct else WRONG_NAME}</b>"
        if notes is not None:
            details += f"<br>{notes[i]}"
        cards.append(SampleCard(i, int(index[i]), rgb[i], correct, caption, details))
    return cards


def select_cards(cards: list[SampleCard], mistakes_only: bool = False, limit: int | None = None):
    chosen = [c for c in cards if not (mistakes_only and c.correct)]
    return chosen if limit is None else chosen[: max(0, limit)]


def tile_origin(slot: int, columns: int) -> tuple[int, int]:
    """Top-left corner (x, y) of the framed tile in grid slot `slot`, in unscaled pixels."""
    row, col = divmod(slot, columns)
    return col * CELL_W + GAP // 2, row * CELL_H + 2


def grid_shape(n: int, columns: int) -> tuple[int, int]:
    """(width, height) of the composite in unscaled pixels."""
    rows = max(1, -(-n // columns))
    return min(n, columns) * CELL_W if n else CELL_W, rows * CELL_H


def grid_image(cards: list[SampleCard], columns: int) -> np.ndarray:
    """The composite: framed tiles on a white background, (H, W, 3) uint8, unscaled."""
    width, height = grid_shape(len(cards), columns)
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = BACKGROUND
    for slot, card in enumerate(cards):
        x, y = tile_origin(slot, columns)
        canvas[y : y + TILE, x : x + TILE] = CORRECT_RGB if card.correct else WRONG_RGB
        canvas[y + BORDER : y + BORDER + IMAGE, x + BORDER : x + BORDER + IMAGE] = card.image
    return canvas


def samples_grid_figure(
    samples: Mapping,
    model: str,
    mistakes_only: bool = False,
    limit: int | None = 30,
    columns: int = 10,
    title: str | None = None,
    notes: Sequence[str] | None = None,
    empty_text: str | None = None,
) -> go.Figure:
    """The grid of sample predictions; mistakes_only keeps the samples with a wrong head.

    title: what the grid shows (default: how many samples, how many with a mistake); notes: an
    extra hover line per sample; empty_text: what an empty grid says.
    """
    cards = select_cards(sample_cards(samples, model, notes), mistakes_only, limit)
    fig = go.Figure()
    if not cards:
        default = "No mistakes in this sample." if mistakes_only else "No samples to show."
        fig.add_annotation(
            text=empty_text or default,
            showarrow=False,
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
            font={"size": 16},
        )
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        fig.update_layout(height=160, margin={"t": 10, "b": 10, "l": 10, "r": 10})
        return fig

    width, height = grid_shape(len(cards), columns)
    fig.add_trace(
        go.Image(
            source=png_data_url(grid_image(cards, columns), SCALE, optimize=True),
            x0=0,
            y0=0,
            dx=1 / SCALE,
            dy=1 / SCALE,
            hoverinfo="skip",
            name="samples",
        )
    )
    for correct, name, color, symbol in (
        (True, CORRECT_NAME, CORRECT_RGB, "circle"),
        (False, WRONG_NAME, WRONG_RGB, "x"),
    ):
        slots = [s for s, c in enumerate(cards) if c.correct == correct]
        corners = [tile_origin(s, columns) for s in slots]
        fig.add_trace(
            go.Scatter(
                x=[x + TILE - BORDER for x, _ in corners],
                y=[y + BORDER for _, y in corners],
                mode="markers",
                name=name,
                marker={
                    "color": f"rgb{color}",
                    "size": 10,
                    "symbol": symbol,
                    "line": {"color": "white", "width": 1},
                },
                customdata=[[cards[s].position, cards[s].test_index] for s in slots],
                hovertext=[cards[s].details for s in slots],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    captions = []
    for slot, card in enumerate(cards):
        x, y = tile_origin(slot, columns)
        captions.append(
            go.layout.Annotation(
                x=x + TILE / 2,
                y=y + TILE + 1,
                text=card.caption,
                showarrow=False,
                xanchor="center",
                yanchor="top",
                align="center",
                font={"size": 11},
            )
        )
    fig.update_layout(annotations=captions)
    fig.update_xaxes(visible=False, range=[0, width])
    fig.update_yaxes(visible=False, range=[height, 0], scaleanchor="x")
    mistakes = sum(not c.correct for c in cards)
    fig.update_layout(
        title=title or f"{len(cards)} samples, {mistakes} with a mistake (red)",
        height=int(110 + 2.4 * height),
        margin={"t": 50, "b": 10, "l": 10, "r": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        plot_bgcolor="white",
    )
    return fig
