"""Real MNIST digits rendered the ways people give them to the app: canvases and photos.

The robustness bench and the tests build their sets from these. Every function takes a 28x28
uint8 digit (white on black, as in MNIST), an ink colour name and a numpy Generator, and
returns a PIL image as the app or the CLI would receive it. Nothing here is used for training.

Canvas drawings (280x280, as the Predict page sends them):
- `canvas`: any size and position, thin to bold brushes;
- `canvas_edges`: a digit that fills the canvas, its strokes touching or running past the edges;
- `canvas_tiny`: a 40-70 px digit in a corner;
- `canvas_strokes`: a digit drawn in several strokes, with gaps between them.

Photos (640x480 JPEG): `photo` on plain, unevenly lit paper; `photo_lined` on ruled or squared
paper. Both put the digit off-centre.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from mimo.serve.preprocess import stroke_width

CANVAS_SIDE = 280
DIGIT_FRACTION = 20 / 28  # the part of an MNIST image its digit fills
# Colour-picker shades people draw with.
PICKER_INKS = {
    "red": [(255, 75, 75), (255, 0, 0), (230, 40, 60), (255, 99, 71)],
    "green": [(33, 195, 84), (0, 200, 0), (60, 220, 110), (50, 205, 50)],
}
# Pens on paper.
PEN_INKS = {
    "red": [(190, 30, 40), (210, 40, 40), (160, 20, 35)],
    "green": [(20, 130, 60), (30, 150, 50), (15, 110, 70)],
    "blue": [(30, 50, 170), (20, 40, 120)],
    "black": [(30, 30, 35), (50, 45, 40)],
}
PHOTO_SIZE = (640, 480)


# ---------------------------------------------------------------------------------------------
# Canvas drawings


def _stroke_mask(digit: np.ndarray, side: int, rng, brush: int | None = None) -> Image.Image:
    """The digit enlarged to `side` pixels and redrawn with a round brush `brush` px wide
    (default: the Predict page's slider range, 8-40 px, at most a quarter of the digit's
    side), anti-aliased at its edges as a canvas draws it."""
    big = Image.fromarray(np.asarray(digit, np.uint8)).resize((side, side), Image.BILINEAR)
    mask = np.asarray(big) > 100
    if brush is None:
        brush = int(rng.integers(8, 41))
    brush = max(2, min(brush, round(side * DIGIT_FRACTION / 4)))
    change = round((brush - stroke_width(mask)) / 2)
    if change > 0:
        mask = ndimage.binary_dilation(mask, _disk(change))
    elif change < 0:
        thinner = ndimage.binary_erosion(mask, _disk(-change))
        mask = thinner if thinner.sum() > 0.2 * mask.sum() else mask
    stroke = Image.fromarray(mask.astype(np.uint8) * 255)
    return stroke.filter(ImageFilter.GaussianBlur(1))


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return xx**2 + yy**2 <= radius**2


def _on_canvas(mask: Image.Image, x: int, y: int, color: str, rng) -> Image.Image:
    """Paint the mask at (x, y) in a picker ink, on a transparent or black canvas."""
    ink = PICKER_INKS[color][int(rng.integers(len(PICKER_INKS[color])))]
    transparent = bool(rng.integers(2))
    canvas = Image.new("RGBA", (CANVAS_SIDE, CANVAS_SIDE), (0, 0, 0, 0 if transparent else 255))
    canvas.paste(Image.new("RGBA", mask.size, ink + (255,)), (x, y), mask)
    return canvas


def canvas(digit: np.ndarray, color: str, rng) -> Image.Image:
    """Any size (70-260 px) and position, any brush."""
    side = int(rng.integers(70, 261))
    x, y = (int(v) for v in rng.integers(0, CANVAS_SIDE - side + 1, 2))
    return _on_canvas(_stroke_mask(digit, side, rng), x, y, color, rng)


def canvas_edges(digit: np.ndarray, color: str, rng) -> Image.Image:
    """The digit itself spans 90-115% of the canvas: its strokes touch or cross the edges."""
    side = int(CANVAS_SIDE * rng.uniform(0.90, 1.15) / DIGIT_FRACTION)
    centre = (CANVAS_SIDE - side) // 2
    x, y = (centre + int(v) for v in rng.integers(-25, 26, 2))
    return _on_canvas(_stroke_mask(digit, side, rng), x, y, color, rng)


def canvas_tiny(digit: np.ndarray, color: str, rng) -> Image.Image:
    """A 40-70 px digit in one of the four corners."""
    side = int(rng.integers(40, 71) / DIGIT_FRACTION)
    margin = int(side * (1 - DIGIT_FRACTION) / 2)  # around the digit inside its image
    inset_x, inset_y = (int(v) for v in rng.integers(0, 16, 2))  # digit to canvas edge
    far = CANVAS_SIDE - side + margin
    x = inset_x - margin if rng.integers(2) else far - inset_x
    y = inset_y - margin if rng.integers(2) else far - inset_y
    return _on_canvas(
        _stroke_mask(digit, side, rng, brush=int(rng.integers(4, 12))), x, y, color, rng
    )


def canvas_strokes(digit: np.ndarray, color: str, rng) -> Image.Image:
    """Drawn in several strokes: one or two thin gaps cut across the digit."""
    side = int(rng.integers(120, 261))
    mask = _stroke_mask(digit, side, rng)
    draw = ImageDraw.Draw(mask)
    for _ in range(int(rng.integers(1, 3))):
        a, b = rng.uniform(0, side, 2), rng.uniform(0, side, 2)
        draw.line([tuple(a), tuple(b)], fill=0, width=int(rng.integers(2, max(3, side // 30))))
    x, y = (int(v) for v in rng.integers(0, CANVAS_SIDE - side + 1, 2))
    return _on_canvas(mask, x, y, color, rng)


# ---------------------------------------------------------------------------------------------
# Photos of ink on paper


def _paper(rng) -> np.ndarray:
    """Off-white paper with a light gradient (a lamp on one side) and sensor noise."""
    width, height = PHOTO_SIZE
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    gx, gy = rng.uniform(-35, 35, 2)
    light = rng.uniform(200, 240) + gx * (xx / width - 0.5) + gy * (yy / height - 0.5)
    light = light + rng.normal(0, 3, (height, width))
    tint = np.array([1.0, rng.uniform(0.96, 1.0), rng.uniform(0.88, 1.0)], np.float32)
    return np.clip(light[..., None] * tint, 0, 255)


def _rule_lines(paper: np.ndarray, rng, squared: bool) -> np.ndarray:
    """Faint blue or grey ruling, slightly tilted as in a hand-held photo."""
    height, width = paper.shape[:2]
    lines = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(lines)
    gap = int(rng.integers(24, 45))
    tilt = rng.uniform(-0.03, 0.03)
    for y in range(int(rng.integers(0, gap)), height, gap):
        draw.line([(0, y), (width, y + tilt * width)], fill=255, width=int(rng.integers(1, 3)))
    if squared:
        for x in range(int(rng.integers(0, gap)), width, gap):
            draw.line([(x, 0), (x - tilt * height, height)], fill=255, width=1)
    strength = np.asarray(lines, np.float32)[..., None] / 255 * rng.uniform(0.2, 0.45)
    colour = np.array([120, 160, 230] if rng.integers(2) else [140, 140, 140], np.float32)
    return paper * (1 - strength) + colour * strength


def _ink_on_paper(paper: np.ndarray, digit: np.ndarray, ink, rng) -> np.ndarray:
    height, width = paper.shape[:2]
    side = int(rng.integers(110, 300))
    strength = np.asarray(Image.fromarray(digit).resize((side, side), Image.BICUBIC), np.float32)
    strength = np.clip(strength / 255 * rng.uniform(0.85, 1.0), 0, 1)[..., None]
    x, y = int(rng.integers(10, width - side - 10)), int(rng.integers(10, height - side - 10))
    region = paper[y : y + side, x : x + side]
    paper[y : y + side, x : x + side] = region * (1 - strength) + np.asarray(ink) * strength
    return paper


def _jpeg(pixels: np.ndarray, rng) -> Image.Image:
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
        buffer, "JPEG", quality=int(rng.integers(55, 92))
    )
    return Image.open(io.BytesIO(buffer.getvalue()))


def photo(digit: np.ndarray, color: str, rng) -> Image.Image:
    """Ink on plain, unevenly lit paper, off-centre, JPEG."""
    ink = PEN_INKS[color][int(rng.integers(len(PEN_INKS[color])))]
    return _jpeg(_ink_on_paper(_paper(rng), digit, ink, rng), rng)


def photo_lined(digit: np.ndarray, color: str, rng) -> Image.Image:
    """Ink on ruled or squared paper, unevenly lit, off-centre, JPEG."""
    ink = PEN_INKS[color][int(rng.integers(len(PEN_INKS[color])))]
    paper = _rule_lines(_paper(rng), rng, squared=bool(rng.integers(2)))
    return _jpeg(_ink_on_paper(paper, digit, ink, rng), rng)


def mnist_colored(digit: np.ndarray, color: str, rng) -> Image.Image:
    """The 28x28 digit itself in the red or green channel (the colour model's own format)."""
    rgb = np.zeros((28, 28, 3), np.uint8)
    rgb[..., 0 if color == "red" else 1] = digit
    return Image.fromarray(rgb)
