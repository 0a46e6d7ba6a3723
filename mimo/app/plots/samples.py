"""A grid of sample test predictions, each framed green (all heads right) or red (a mistake).

Input is the plain samples dict of a run (see mimo.runs.artifacts: image, color_in | number,
<head>_true, <head>_pred, <head>_confidence). The grid is one composite image (the tiles with
their coloured frames) under a scatter layer of correctness markers that carry the hover details,
plus a caption under every tile with the truth, the prediction and the confidences.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from mimo.encoding import COLOR_NAMES, colorize

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


def sample_cards(samples: Mapping, model: str) -> list[SampleCard]:
    """One card per sample. A sample is correct only when every head is right."""
    images = np.asarray(samples["image"])
    n = len(images)
    index = np.asarray(samples.get("index", np.arange(n))).reshape(-1)
    second = "color" if model == "color" else "sum"
    true_d, pred_d = np.asarray(samples["digit_true"]), np.asarray(samples["digit_pred"])
    conf_d = np.asarray(samples["digit_confidence"], dtype=np.float64)
    true_2, pred_2 = np.asarray(samples[f"{second}_true"]), np.asarray(samples[f"{second}_pred"])
    conf_2 = np.asarray(samples[f"{second}_confidence"], dtype=np.float64)
    if model == "color":
        rgb = colorize(images, np.asarray(samples["color_in"]))
    else:
        grey = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images
        rgb = np.repeat(np.asarray(grey, dtype=np.float32)[..., None], 3, axis=-1)
    rgb = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)

    cards = []
    for i in range(n):
        digit_ok = bool(true_d[i] == pred_d[i])
        second_ok = bool(true_2[i] == pred_2[i])
        if model == "color":
            true_c, pred_c = COLOR_NAMES[int(true_2[i])], COLOR_NAMES[int(pred_2[i])]
            caption = (
                f"true {true_d[i]} {true_c}<br>"
                f"pred {_mark(str(pred_d[i]), digit_ok)} {_mark(pred_c, second_ok)}<br>"
                f"{conf_d[i]:.0%} · {conf_2[i]:.0%}"
            )
            details = (
                f"test image #{index[i]}<br>true: digit {true_d[i]}, colour {true_c}"
                f"<br>predicted: digit {pred_d[i]} ({conf_d[i]:.1%}), "
                f"colour {pred_c} ({conf_2[i]:.1%})"
            )
        else:
            number = int(samples["number"][i])
            caption = (
                f"{true_d[i]} + {number} = {true_2[i]}<br>"
                f"pred {_mark(str(pred_d[i]), digit_ok)}, "
                f"sum {_mark(str(pred_2[i]), second_ok)}<br>"
                f"{conf_d[i]:.0%} · {conf_2[i]:.0%}"
            )
            details = (
                f"test image #{index[i]}<br>true: digit {true_d[i]}, number {number}, "
                f"sum {true_2[i]}<br>predicted: digit {pred_d[i]} ({conf_d[i]:.1%}), "
                f"sum {pred_2[i]} ({conf_2[i]:.1%})"
            )
        correct = digit_ok and second_ok
        details += f"<br><b>{CORRECT_NAME if correct else WRONG_NAME}</b>"
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


def png_data_uri(image: np.ndarray, scale: int = SCALE) -> str:
    img = Image.fromarray(image)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def samples_grid_figure(
    samples: Mapping,
    model: str,
    mistakes_only: bool = False,
    limit: int | None = 30,
    columns: int = 10,
) -> go.Figure:
    """The grid of sample predictions; mistakes_only keeps the samples with a wrong head."""
    cards = select_cards(sample_cards(samples, model), mistakes_only, limit)
    fig = go.Figure()
    if not cards:
        fig.add_annotation(
            text="No mistakes in this sample." if mistakes_only else "No samples to show.",
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
            source=png_data_uri(grid_image(cards, columns)),
            x0=0,
            y0=0,
            dx=1 / SCALE,
            dy=1 / SCALE,
            hoverinfo="skip",
            name="samples",
        )
    )
    for correct, name, colour, symbol in (
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
                    "color": f"rgb{colour}",
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
        title=f"{len(cards)} samples, {mistakes} with a mistake (red)",
        height=int(110 + 2.4 * height),
        margin={"t": 50, "b": 10, "l": 10, "r": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        plot_bgcolor="white",
    )
    return fig
