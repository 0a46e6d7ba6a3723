"""Pictures that are not one digit, as stroke masks: the negatives of the one-digit detector.

Each kind (`NEGATIVE_FAMILIES`, with how often the training data draws it) is drawn as a stroke
mask, float 0-1 on the 280x280 canvas grid (`negative_mask`); mimo.train.detector_data renders
masks as canvases, photos or plain images. The kinds:

- ``letter``: capital and small letters drawn as jittered strokes (mimo.train.glyphs), and
  letters typed in the TrueType fonts found on the machine (Pillow's own font if there are none);
- ``symbol``: + = # * < > ? ! and, from fonts, % & @ $ ...;
- ``scribble``: random walks, bezier squiggles, zigzags, loops;
- ``shape``: square, triangle, circle with an X, circle with a dot, star, diamond, cross,
  arrow, spiral, concentric circles, pentagon, heart, crescent;
- ``multi_digit``: two or three digits side by side (from the digits given);
- ``dot``: a lone dot or a small filled blob;
- ``line``: a short or long line within 30 degrees of horizontal (a steep line is a "1" and
  is *not* a negative), sometimes two or three parallel ones;
- ``hatching``: many parallel lines, crossed or not;
- ``blob``: a big filled ellipse or polygon.

Left out because people write digits that look like them (flagging a real digit is worse than
missing an ambiguous letter): O o D Q (zero), I l i j J | / T t (one, seven), S s (five), Z z
(two), B (eight), b G (six), g q a d y (nine), A (four), and plain circles or ovals (zero);
lines steeper than 30 degrees from horizontal (one).

Held out from training (``held_out=True`` draws *only* these; ``held_out=False`` never does):

- the glyphs in glyphs.HELD_OUT_LETTERS, HELD_OUT_SYMBOLS and HELD_OUT_SHAPES, as strokes and
  in fonts;
- fonts whose file name contains "Serif" (the training uses the sans and mono fonts);
- scribbles of the ``loops`` kind; multi-digit lines of three digits (training uses pairs);
- hatching that is crossed (training uses single-direction hatching).
"""

from __future__ import annotations

import glob
import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mimo.train.glyphs import (
    FONT_TEXT,
    HELD_OUT_LETTERS,
    HELD_OUT_SHAPES,
    HELD_OUT_SYMBOLS,
    LETTERS,
    SHAPES,
    STROKE_SYMBOLS,
)
from mimo.train.synthetic import CANVAS_SIDE, digit_mask, place, start_on_canvas

NEGATIVE_FAMILIES = {
    "letter": 0.22,
    "symbol": 0.12,
    "scribble": 0.14,
    "shape": 0.14,
    "multi_digit": 0.14,
    "dot": 0.06,
    "line": 0.08,
    "hatching": 0.05,
    "blob": 0.05,
}


# ---------------------------------------------------------------------------------------------
# Fonts


def font_files(held_out: bool = False) -> list[str]:
    """TrueType fonts on this machine; serif ones are held out from training."""
    found = []
    for folder in ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts")):
        found += glob.glob(os.path.join(folder, "**", "*.ttf"), recursive=True)
    found = sorted(f for f in found if "Math" not in f)
    return [f for f in found if ("Serif" in os.path.basename(f)) == held_out]


_FONT_CACHE: dict = {}


def _font(path: str | None, size: int):
    key = (path, size)
    if key not in _FONT_CACHE:
        try:
            _FONT_CACHE[key] = (
                ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)
            )
        except (OSError, TypeError):  # no FreeType: the small bitmap font
            _FONT_CACHE[key] = ImageFont.load_default()
    return _FONT_CACHE[key]


# ---------------------------------------------------------------------------------------------
# Drawing a mask


def _brush(rng, box_side: float) -> int:
    """A brush width 8-40 px (the app's slider), never more than a fifth of the glyph."""
    width = int(rng.integers(8, 41))
    return int(max(3, min(width, box_side / 5)))


def _box(rng, aspect: float = 1.0, small: int = 60, big: int = 290):
    """(x0, y0, w, h): any size and position on the canvas, sometimes touching an edge."""
    side = float(rng.uniform(small, big))
    w, h = (side, side / aspect) if aspect >= 1 else (side * aspect, side)
    x0 = start_on_canvas(rng, w, overhang=0.04)
    return x0, start_on_canvas(rng, h, overhang=0.04), w, h


def _transform(strokes, rng, box, jitter=0.03, tilt=12.0):
    """Unit-box polylines -> canvas coordinates, with a random slant, rotation and wobble."""
    x0, y0, w, h = box
    angle = math.radians(rng.uniform(-tilt, tilt))
    shear = rng.uniform(-0.25, 0.25)
    cos, sin = math.cos(angle), math.sin(angle)
    out = []
    for stroke in strokes:
        pts = np.asarray(stroke, np.float64) - 0.5
        pts = pts + rng.normal(0, jitter, pts.shape)
        pts[:, 0] += shear * pts[:, 1]
        pts = pts @ np.array([[cos, sin], [-sin, cos]])
        pts = (pts + 0.5) * [w, h] + [x0, y0]
        out.append([tuple(p) for p in pts])
    return out


def _draw(strokes, width: int, size: int = CANVAS_SIDE) -> np.ndarray:
    """Polylines (canvas coordinates) drawn with a round brush -> float mask (size, size)."""
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    r = width / 2
    for stroke in strokes:
        if len(stroke) > 1:
            draw.line(stroke, fill=255, width=width, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    image = image.filter(ImageFilter.GaussianBlur(0.8))  # anti-aliased like a canvas
    return np.asarray(image, np.float32) / 255.0


def _strokes_mask(strokes, rng, aspect=1.0, small=60, jitter=0.03, tilt=12.0) -> np.ndarray:
    box = _box(rng, aspect, small=small)
    return _draw(_transform(strokes, rng, box, jitter, tilt), _brush(rng, min(box[2], box[3])))


def _text_mask(text: str, rng, held_out: bool) -> np.ndarray:
    fonts = font_files(held_out) or [None]
    path = fonts[int(rng.integers(len(fonts)))]
    size = int(rng.integers(60, 300))
    font = _font(path, size)
    image = Image.new("L", (CANVAS_SIDE * 2, CANVAS_SIDE * 2), 0)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    stroke = int(rng.integers(0, max(1, size // 25)))
    draw.text(
        (CANVAS_SIDE - (left + right) / 2, CANVAS_SIDE - (top + bottom) / 2),
        text,
        fill=255,
        font=font,
        stroke_width=stroke,
        stroke_fill=255,
    )
    image = image.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BILINEAR)
    box = image.getbbox()
    if box is None:
        return np.zeros((CANVAS_SIDE, CANVAS_SIDE), np.float32)
    glyph = image.crop(box)
    scale = min(1.0, (CANVAS_SIDE - 4) / max(glyph.size))
    glyph = glyph.resize(
        (max(1, int(glyph.width * scale)), max(1, int(glyph.height * scale))),
        Image.Resampling.BILINEAR,
    )
    out = Image.new("L", (CANVAS_SIDE, CANVAS_SIDE), 0)
    x = int(rng.integers(0, CANVAS_SIDE - glyph.width + 1))
    y = int(rng.integers(0, CANVAS_SIDE - glyph.height + 1))
    out.paste(glyph, (x, y))
    return np.asarray(out, np.float32) / 255.0


# ---------------------------------------------------------------------------------------------
# Negative families: each returns a float mask (CANVAS_SIDE, CANVAS_SIDE)


def _letter(rng, held_out):
    if rng.random() < 0.55:
        names = [c for c in LETTERS if (c in HELD_OUT_LETTERS) == held_out]
        name = names[int(rng.integers(len(names)))]
        return _strokes_mask(LETTERS[name], rng, aspect=float(rng.uniform(0.6, 1.4)))
    chars = [c for c in FONT_TEXT if c.isalpha() and (c in HELD_OUT_LETTERS) == held_out]
    return _text_mask(chars[int(rng.integers(len(chars)))], rng, held_out)


def _symbol(rng, held_out):
    stroke_names = [c for c in STROKE_SYMBOLS if (c in HELD_OUT_SYMBOLS) == held_out]
    if stroke_names and rng.random() < 0.5:
        name = stroke_names[int(rng.integers(len(stroke_names)))]
        return _strokes_mask(STROKE_SYMBOLS[name], rng, aspect=float(rng.uniform(0.7, 1.3)))
    chars = [c for c in FONT_TEXT if not c.isalpha() and (c in HELD_OUT_SYMBOLS) == held_out]
    return _text_mask(chars[int(rng.integers(len(chars)))], rng, held_out)


def _scribble(rng, held_out):
    kinds = ["loops"] if held_out else ["walk", "bezier", "zigzag"]
    kind = kinds[int(rng.integers(len(kinds)))]
    n = int(rng.integers(4, 12))
    if kind == "walk":
        steps = rng.normal(0, 1, (n * 4, 2)).cumsum(axis=0)
        pts = _smooth(steps, 3)
    elif kind == "bezier":
        control = rng.uniform(0, 1, (n, 2))
        pts = _bezier_chain(control)
    elif kind == "zigzag":
        xs = np.linspace(0, 1, n) + rng.normal(0, 0.03, n)
        ys = np.where(np.arange(n) % 2 == 0, 0.0, 1.0) + rng.normal(0, 0.1, n)
        pts = np.stack([xs, ys], 1)
        if rng.random() < 0.5:
            pts = pts[:, ::-1]
    else:  # loops: a pen circling while it moves along
        t = np.linspace(0, 1, 120)
        turns = rng.uniform(2, 6)
        r = rng.uniform(0.1, 0.25)
        pts = np.stack(
            [t + r * np.cos(2 * np.pi * turns * t), 0.5 + r * 1.5 * np.sin(2 * np.pi * turns * t)],
            1,
        )
    pts = (pts - pts.min(0)) / np.maximum(np.ptp(pts, axis=0), 1e-6)
    return _strokes_mask(
        [pts.tolist()], rng, aspect=float(rng.uniform(0.6, 1.7)), jitter=0.01, tilt=30
    )


def _smooth(pts, k):
    kernel = np.ones(k) / k
    return np.stack([np.convolve(pts[:, i], kernel, mode="valid") for i in range(2)], 1)


def _bezier_chain(control):
    out = []
    for i in range(0, len(control) - 2, 2):
        p0, p1, p2 = control[i], control[i + 1], control[i + 2]
        for t in np.linspace(0, 1, 12):
            out.append((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2)
    return np.asarray(out if out else control)


def _shape(rng, held_out):
    names = [s for s in SHAPES if (s in HELD_OUT_SHAPES) == held_out]
    name = names[int(rng.integers(len(names)))]
    return _strokes_mask(SHAPES[name], rng, aspect=float(rng.uniform(0.75, 1.33)), jitter=0.02)


def _multi_digit(rng, held_out, digits):
    count = 3 if held_out else 2
    picks = digits[rng.integers(len(digits), size=count)]
    height = float(rng.uniform(50, 200))
    gap = float(rng.uniform(-0.1, 0.35)) * height * 0.7
    total = count * height * 0.8 + (count - 1) * gap
    scale = min(1.0, (CANVAS_SIDE - 4) / total)
    height, gap = height * scale, gap * scale
    x = float(rng.uniform(0, max(1.0, CANVAS_SIDE - count * height * 0.8 - (count - 1) * gap)))
    y = float(rng.uniform(0, CANVAS_SIDE - height))
    out = np.zeros((CANVAS_SIDE, CANVAS_SIDE), np.float32)
    style_seed = int(rng.integers(1 << 31))
    for digit in picks:
        # MNIST digits sit in a 20x20 box inside 28x28, so neighbouring boxes overlap a bit.
        side = height * float(rng.uniform(0.9, 1.1))
        np.maximum(
            out,
            digit_mask(
                digit,
                np.random.default_rng(style_seed),
                (x - side * 0.1, y + float(rng.normal(0, 0.05)) * height, side, side),
            ),
            out=out,
        )
        x += height * 0.8 + gap
    return out


def _dot(rng, held_out):
    r = float(rng.uniform(4, 24))
    x, y = rng.uniform(r, CANVAS_SIDE - r, 2)
    image = Image.new("L", (CANVAS_SIDE, CANVAS_SIDE), 0)
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.7:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    else:  # a short blot: a few overlapping dabs
        for _ in range(int(rng.integers(2, 5))):
            dx, dy = rng.normal(0, r * 0.5, 2)
            draw.ellipse([x + dx - r, y + dy - r, x + dx + r, y + dy + r], fill=255)
    return np.asarray(image.filter(ImageFilter.GaussianBlur(0.8)), np.float32) / 255.0


def _line(rng, held_out):
    angle = math.radians(float(rng.uniform(-30, 30)))
    length = float(rng.uniform(30, 300))
    width = int(rng.integers(8, 41))
    cx, cy = rng.uniform(20, CANVAS_SIDE - 20, 2)
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    count = 1 if rng.random() < 0.8 else int(rng.integers(2, 4))
    spacing = float(rng.uniform(1.5, 4)) * width
    strokes = []
    for i in range(count):
        oy = (i - (count - 1) / 2) * spacing
        wob = rng.normal(0, length * 0.01, 2)
        strokes.append(
            [(cx - dx, cy - dy + oy), (cx + wob[0], cy + oy + wob[1]), (cx + dx, cy + dy + oy)]
        )
    return _draw(strokes, width)


def _hatching(rng, held_out):
    count = int(rng.integers(4, 10))
    base = [
        [(0, i / (count - 1)), (1, i / (count - 1) + rng.normal(0, 0.03))] for i in range(count)
    ]
    strokes = base
    if held_out:  # crossed hatching
        strokes = base + [[(i / (count - 1), 0), (i / (count - 1), 1)] for i in range(count)]
    return _strokes_mask(strokes, rng, aspect=float(rng.uniform(0.7, 1.5)), jitter=0.01, tilt=45)


def _blob(rng, held_out):
    x0, y0, w, h = _box(rng, float(rng.uniform(0.6, 1.6)), small=40, big=260)
    image = Image.new("L", (CANVAS_SIDE, CANVAS_SIDE), 0)
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.5:
        draw.ellipse([x0, y0, x0 + w, y0 + h], fill=255)
    else:
        n = int(rng.integers(5, 10))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(0.6, 1.0, n)
        draw.polygon(
            [
                (x0 + w / 2 * (1 + r * math.cos(a)), y0 + h / 2 * (1 + r * math.sin(a)))
                for a, r in zip(angles, radii, strict=True)
            ],
            fill=255,
        )
    return np.asarray(image.filter(ImageFilter.GaussianBlur(0.8)), np.float32) / 255.0


_MAKERS = {
    "letter": _letter,
    "symbol": _symbol,
    "scribble": _scribble,
    "shape": _shape,
    "dot": _dot,
    "line": _line,
    "hatching": _hatching,
    "blob": _blob,
}


# ---------------------------------------------------------------------------------------------
# Public API


def glyph_mask(strokes, box=(50.0, 40.0, 180.0, 200.0), width: int = 22) -> np.ndarray:
    """Unit-box polylines (e.g. LETTERS["E"], SHAPES["star"]) drawn as they are into box
    (x0, y0, w, h) on the canvas with a round brush -> float mask (CANVAS_SIDE, CANVAS_SIDE)."""
    x0, y0, w, h = box
    placed = [[(x0 + x * w, y0 + y * h) for x, y in stroke] for stroke in strokes]
    return _draw(placed, width)


def digits_side_by_side(digits, height: float = 120.0, gap: float = 10.0) -> np.ndarray:
    """28x28 MNIST digits written next to each other, left to right -> float mask."""
    out = np.zeros((CANVAS_SIDE, CANVAS_SIDE), np.float32)
    x = (CANVAS_SIDE - len(digits) * height * 0.8 - (len(digits) - 1) * gap) / 2
    for digit in digits:
        big = Image.fromarray(np.asarray(digit, np.uint8)).resize((int(height),) * 2)
        place(out, np.asarray(big, np.float32) / 255.0, int(x - height * 0.1), 80)
        x += height * 0.8 + gap
    return out


def negative_mask(family: str, rng, held_out: bool = False, digits=None) -> np.ndarray:
    """The stroke mask (CANVAS_SIDE, CANVAS_SIDE) of one negative of the given family."""
    if family == "multi_digit":
        if digits is None:
            raise ValueError("multi_digit needs digits (28x28 MNIST images)")
        return _multi_digit(rng, held_out, np.asarray(digits))
    return _MAKERS[family](rng, held_out)
