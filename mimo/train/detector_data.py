"""Synthetic pictures for the "is this one digit?" detector: real digits and things that are not.

Everything is a *picture*, made the way people give pictures to the app, so that it can go
through the same path as a real input (`mimo.serve.preprocess.prepare`, or the CLI):

- ``canvas``: picker-colour strokes (red/green) on a 280x280 canvas, black RGB or transparent
  RGBA, brush widths 8-40 px, any size and position, strokes may touch the edges;
- ``photo``: dark, red, green or blue ink on off-white, unevenly lit paper, JPEG-compressed;
- ``plain``: a 28x28 grey MNIST-format image (white on black).

Shapes are drawn as a stroke mask (float 0-1 on the canvas grid) and then rendered in one of
these modes (`render`).

Positives (`positive_picture`): real MNIST digits (pass *training* digits to build training
data, *test* digits to measure) rendered in any mode.

Negatives (`negative_picture`), by family:

- ``letter``: capital and small letters drawn as jittered strokes, and letters typed in the
  TrueType fonts found on the machine (Pillow's own font if there are none);
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

Excluded from the negatives because people write digits that look like them (flagging a real
digit is worse than missing an ambiguous letter): O o D Q (zero), I l i j J | / T t (one,
seven), S s (five), Z z (two), B (eight), b G (six), g q a d y (nine), A (four), and plain
circles or ovals (zero); lines steeper than 30 degrees from horizontal (one).

Held out from training (``held_out=True`` picks *only* these; ``held_out=False``, the default,
never picks them). A bench that measures generalisation should use ``held_out=True`` and a
seed other than the training seed (`TRAINING_SEED`):

- letters ``HELD_OUT_LETTERS`` (K R W h k f n, as strokes and in fonts);
- symbols ``HELD_OUT_SYMBOLS`` (% & ? and @);
- shapes ``HELD_OUT_SHAPES`` (pentagon, heart, crescent);
- fonts whose file name contains "Serif" (the training uses the sans and mono fonts);
- scribbles of the ``loops`` kind; multi-digit lines of three digits (training uses pairs);
- hatching that is crossed (training uses single-direction hatching).

Use:

    rng = numpy.random.default_rng(seed)
    picture, family = negative_picture(rng, digits=test_digits, held_out=True)
    picture = positive_picture(test_digit, rng)             # a real digit, any mode
    pictures = negative_pictures(200, seed=7, held_out=True, digits=test_digits)
"""

from __future__ import annotations

import glob
import io
import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from scipy import ndimage

CANVAS = 280
TRAINING_SEED = 0
PICKER_COLORS = [(255, 75, 75), (33, 195, 84), (255, 0, 0), (0, 200, 0), (230, 40, 60)]
PAPER_INKS = [(20, 20, 25), (40, 40, 90), (190, 30, 40), (20, 130, 60), (30, 50, 170)]
MODES = ("canvas", "photo", "plain")
MODE_WEIGHTS = (0.6, 0.3, 0.1)

# ---------------------------------------------------------------------------------------------
# Stroke definitions: polylines in a unit box, x right and y down, both 0-1.


def _arc(cx, cy, rx, ry, start, stop, n=14):
    """Points on an ellipse from angle `start` to `stop` (degrees, 0 = right, 90 = down)."""
    angles = np.radians(np.linspace(start, stop, n))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


LETTERS = {
    "C": [_arc(0.55, 0.5, 0.45, 0.5, 40, 320)],
    "E": [[(0.9, 0), (0.1, 0), (0.1, 1), (0.9, 1)], [(0.1, 0.5), (0.7, 0.5)]],
    "F": [[(0.9, 0), (0.1, 0), (0.1, 1)], [(0.1, 0.48), (0.7, 0.48)]],
    "H": [[(0.1, 0), (0.1, 1)], [(0.9, 0), (0.9, 1)], [(0.1, 0.5), (0.9, 0.5)]],
    "K": [[(0.15, 0), (0.15, 1)], [(0.9, 0), (0.15, 0.55)], [(0.4, 0.35), (0.9, 1)]],
    "L": [[(0.15, 0), (0.15, 1), (0.85, 1)]],
    "M": [[(0, 1), (0.05, 0), (0.5, 0.65), (0.95, 0), (1, 1)]],
    "N": [[(0.1, 1), (0.1, 0), (0.9, 1), (0.9, 0)]],
    "P": [[(0.15, 1), (0.15, 0)], [(0.15, 0), *_arc(0.5, 0.27, 0.38, 0.27, -90, 90), (0.15, 0.54)]],
    "R": [
        [(0.15, 1), (0.15, 0)],
        [(0.15, 0), *_arc(0.5, 0.27, 0.38, 0.27, -90, 90), (0.15, 0.54)],
        [(0.45, 0.54), (0.9, 1)],
    ],
    "U": [[(0.1, 0), *_arc(0.5, 0.6, 0.4, 0.4, 180, 0), (0.9, 0)]],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
    "W": [[(0, 0), (0.22, 1), (0.5, 0.3), (0.78, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "e": [[(0.1, 0.55), (0.9, 0.55), *_arc(0.5, 0.55, 0.4, 0.42, 0, -300)]],
    "h": [[(0.15, 0), (0.15, 1)], [(0.15, 0.6), *_arc(0.5, 0.6, 0.35, 0.25, 180, 360), (0.85, 1)]],
    "k": [[(0.2, 0), (0.2, 1)], [(0.8, 0.4), (0.2, 0.75)], [(0.4, 0.65), (0.85, 1)]],
    "m": [
        [(0.05, 1), (0.05, 0.3)],
        [(0.05, 0.5), *_arc(0.28, 0.5, 0.23, 0.2, 180, 360), (0.5, 1)],
        [(0.5, 0.5), *_arc(0.73, 0.5, 0.23, 0.2, 180, 360), (0.96, 1)],
    ],
    "n": [[(0.15, 1), (0.15, 0.2)], [(0.15, 0.5), *_arc(0.5, 0.5, 0.35, 0.3, 180, 360), (0.85, 1)]],
    "r": [[(0.2, 1), (0.2, 0.2)], [(0.2, 0.55), *_arc(0.55, 0.5, 0.35, 0.3, 180, 300)]],
    "u": [[(0.15, 0.1), *_arc(0.5, 0.65, 0.35, 0.35, 180, 0), (0.85, 0.1), (0.85, 1)]],
    "v": [[(0.05, 0.2), (0.5, 1), (0.95, 0.2)]],
    "w": [[(0, 0.2), (0.22, 1), (0.5, 0.4), (0.78, 1), (1, 0.2)]],
    "x": [[(0.1, 0.2), (0.9, 1)], [(0.9, 0.2), (0.1, 1)]],
    "f": [[*_arc(0.65, 0.2, 0.25, 0.2, -20, -180), (0.4, 1)], [(0.1, 0.45), (0.75, 0.45)]],
    "c": [_arc(0.55, 0.6, 0.4, 0.4, 40, 320)],
}
STROKE_SYMBOLS = {
    "+": [[(0.5, 0), (0.5, 1)], [(0, 0.5), (1, 0.5)]],
    "=": [[(0, 0.3), (1, 0.3)], [(0, 0.7), (1, 0.7)]],
    "#": [
        [(0.35, 0), (0.25, 1)],
        [(0.75, 0), (0.65, 1)],
        [(0, 0.33), (1, 0.33)],
        [(0, 0.67), (1, 0.67)],
    ],
    "*": [[(0.5, 0), (0.5, 1)], [(0.07, 0.25), (0.93, 0.75)], [(0.93, 0.25), (0.07, 0.75)]],
    "<": [[(1, 0), (0, 0.5), (1, 1)]],
    ">": [[(0, 0), (1, 0.5), (0, 1)]],
    "?": [[*_arc(0.5, 0.27, 0.4, 0.27, 180, 400), (0.5, 0.72)], [(0.5, 0.92), (0.5, 0.97)]],
    "!": [[(0.5, 0), (0.5, 0.7)], [(0.5, 0.92), (0.5, 0.97)]],
    "%": [
        [(0.9, 0), (0.1, 1)],
        _arc(0.22, 0.2, 0.17, 0.17, 0, 360),
        _arc(0.78, 0.8, 0.17, 0.17, 0, 360),
    ],
}
FONT_TEXT = "CEFHKLMNPRUVWXYehkmnrucvwxf" + "+=#*<>?!%&@${}~^"
HELD_OUT_LETTERS = set("KRWhkfn")
HELD_OUT_SYMBOLS = set("%&?@")
HELD_OUT_SHAPES = {"pentagon", "heart", "crescent"}


def _polygon(n, start=-90.0, inner=None):
    points = []
    for i in range(n):
        angle = math.radians(start + 360.0 * i / n)
        points.append((0.5 + 0.5 * math.cos(angle), 0.5 + 0.5 * math.sin(angle)))
        if inner is not None:
            angle = math.radians(start + 360.0 * (i + 0.5) / n)
            points.append((0.5 + inner * math.cos(angle), 0.5 + inner * math.sin(angle)))
    return [*points, points[0]]


def _heart():
    t = np.linspace(0, 2 * np.pi, 40)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [list(zip((x + 17) / 34, (y + 17) / 30, strict=True))]


SHAPES = {
    "square": [[(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]],
    "triangle": [[(0.5, 0), (1, 1), (0, 1), (0.5, 0)]],
    "circle_x": [
        _arc(0.5, 0.5, 0.5, 0.5, 0, 360, 30),
        [(0.15, 0.15), (0.85, 0.85)],
        [(0.85, 0.15), (0.15, 0.85)],
    ],
    "circle_plus": [
        _arc(0.5, 0.5, 0.5, 0.5, 0, 360, 30),
        [(0.5, 0), (0.5, 1)],
        [(0, 0.5), (1, 0.5)],
    ],
    "circle_dot": [_arc(0.5, 0.5, 0.5, 0.5, 0, 360, 30), [(0.5, 0.5), (0.5, 0.52)]],
    "concentric": [_arc(0.5, 0.5, 0.5, 0.5, 0, 360, 30), _arc(0.5, 0.5, 0.25, 0.25, 0, 360, 20)],
    "star": [_polygon(5, inner=0.2)],
    "star_lines": [[(0.2, 1), (0.5, 0), (0.8, 1), (0, 0.38), (1, 0.38), (0.2, 1)]],
    "diamond": [[(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5), (0.5, 0)]],
    "cross": [
        [
            (0.35, 0),
            (0.65, 0),
            (0.65, 0.35),
            (1, 0.35),
            (1, 0.65),
            (0.65, 0.65),
            (0.65, 1),
            (0.35, 1),
            (0.35, 0.65),
            (0, 0.65),
            (0, 0.35),
            (0.35, 0.35),
            (0.35, 0),
        ]
    ],
    "arrow": [[(0, 0.5), (1, 0.5)], [(0.65, 0.15), (1, 0.5), (0.65, 0.85)]],
    "spiral": [
        [
            (0.5 + 0.5 * t * math.cos(6 * math.pi * t), 0.5 + 0.5 * t * math.sin(6 * math.pi * t))
            for t in np.linspace(0.05, 1, 60)
        ]
    ],
    "square_x": [[(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)], [(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "hexagon": [_polygon(6)],
    "pentagon": [_polygon(5)],
    "heart": _heart(),
    "crescent": [
        [*_arc(0.5, 0.5, 0.5, 0.5, 60, 300, 20), *_arc(0.75, 0.5, 0.35, 0.45, 250, 110, 16)]
    ],
}

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
    x0 = float(rng.uniform(-0.04 * w, CANVAS - 0.96 * w)) if w < CANVAS else (CANVAS - w) / 2
    y0 = float(rng.uniform(-0.04 * h, CANVAS - 0.96 * h)) if h < CANVAS else (CANVAS - h) / 2
    return x0, y0, w, h


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


def _draw(strokes, width: int, size: int = CANVAS) -> np.ndarray:
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
    image = Image.new("L", (CANVAS * 2, CANVAS * 2), 0)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    stroke = int(rng.integers(0, max(1, size // 25)))
    draw.text(
        (CANVAS - (left + right) / 2, CANVAS - (top + bottom) / 2),
        text,
        fill=255,
        font=font,
        stroke_width=stroke,
        stroke_fill=255,
    )
    image = image.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BILINEAR)
    box = image.getbbox()
    if box is None:
        return np.zeros((CANVAS, CANVAS), np.float32)
    glyph = image.crop(box)
    scale = min(1.0, (CANVAS - 4) / max(glyph.size))
    glyph = glyph.resize(
        (max(1, int(glyph.width * scale)), max(1, int(glyph.height * scale))),
        Image.Resampling.BILINEAR,
    )
    out = Image.new("L", (CANVAS, CANVAS), 0)
    x = int(rng.integers(0, CANVAS - glyph.width + 1))
    y = int(rng.integers(0, CANVAS - glyph.height + 1))
    out.paste(glyph, (x, y))
    return np.asarray(out, np.float32) / 255.0


def digit_mask(digit: np.ndarray, rng, box=None) -> np.ndarray:
    """A 28x28 MNIST digit enlarged onto the canvas: soft, or as a solid stroke of some width."""
    digit = np.asarray(digit, np.uint8)
    if box is None:
        side = float(rng.uniform(40, 300)) if rng.random() < 0.9 else float(rng.uniform(260, 330))
        x0 = (
            float(rng.uniform(-0.05 * side, CANVAS - 0.95 * side))
            if side < CANVAS
            else (CANVAS - side) / 2
        )
        y0 = (
            float(rng.uniform(-0.05 * side, CANVAS - 0.95 * side))
            if side < CANVAS
            else (CANVAS - side) / 2
        )
        box = (x0, y0, side, side)
    x0, y0, w, h = box
    size = (max(2, int(round(w))), max(2, int(round(h))))
    big = np.asarray(Image.fromarray(digit).resize(size, Image.Resampling.BILINEAR), np.float32)
    if rng.random() < 0.6:  # a solid stroke, thinned or thickened, anti-aliased
        solid = big > rng.uniform(40, 200)
        grow = int(rng.integers(-1, 3)) * max(1, size[0] // 40)
        if grow > 0:
            solid = ndimage.maximum_filter(solid, size=2 * grow + 1)
        elif grow < 0:
            solid = ndimage.minimum_filter(solid, size=3)
        big = ndimage.gaussian_filter(solid.astype(np.float32) * 255, 1.0)
    out = np.zeros((CANVAS, CANVAS), np.float32)
    _paste(out, big / 255.0, int(round(x0)), int(round(y0)))
    return out


def _paste(out: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """out = max(out, patch placed at (x, y)), clipped to out."""
    h, w = patch.shape
    ys, xs = max(0, y), max(0, x)
    ye, xe = min(out.shape[0], y + h), min(out.shape[1], x + w)
    if ye <= ys or xe <= xs:
        return
    np.maximum(out[ys:ye, xs:xe], patch[ys - y : ye - y, xs - x : xe - x], out=out[ys:ye, xs:xe])


# ---------------------------------------------------------------------------------------------
# Negative families: each returns a float mask (CANVAS, CANVAS)


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
    scale = min(1.0, (CANVAS - 4) / total)
    height, gap = height * scale, gap * scale
    x = float(rng.uniform(0, max(1.0, CANVAS - count * height * 0.8 - (count - 1) * gap)))
    y = float(rng.uniform(0, CANVAS - height))
    out = np.zeros((CANVAS, CANVAS), np.float32)
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
    x, y = rng.uniform(r, CANVAS - r, 2)
    image = Image.new("L", (CANVAS, CANVAS), 0)
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
    cx, cy = rng.uniform(20, CANVAS - 20, 2)
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
    image = Image.new("L", (CANVAS, CANVAS), 0)
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
# Rendering a mask as a picture


def render(mask: np.ndarray, rng, mode: str | None = None):
    """A (CANVAS, CANVAS) float mask -> a picture as the app gets it (PIL image or uint8 array)."""
    if mode is None:
        mode = MODES[int(rng.choice(len(MODES), p=MODE_WEIGHTS))]
    if mode == "canvas":
        colour = np.array(PICKER_COLORS[int(rng.integers(len(PICKER_COLORS)))], np.float32)
        if rng.random() < 0.5:  # transparent canvas: the ink is in alpha
            rgba = np.zeros((CANVAS, CANVAS, 4), np.uint8)
            rgba[..., :3] = colour.astype(np.uint8)
            rgba[..., 3] = np.clip(mask * 255 + 0.5, 0, 255).astype(np.uint8)
            return Image.fromarray(rgba, "RGBA")
        return np.clip(mask[..., None] * colour + 0.5, 0, 255).astype(np.uint8)
    if mode == "photo":
        return _photo(mask, rng)
    small = Image.fromarray(np.clip(mask * 255, 0, 255).astype(np.uint8))
    box = small.getbbox() or (0, 0, CANVAS, CANVAS)
    crop = small.crop(box)
    scale = 20 / max(crop.size)
    crop = crop.resize(
        (max(1, round(crop.width * scale)), max(1, round(crop.height * scale))),
        Image.Resampling.LANCZOS,
    )
    out = Image.new("L", (28, 28), 0)
    out.paste(crop, ((28 - crop.width) // 2, (28 - crop.height) // 2))
    return np.asarray(out, np.uint8)


def _photo(mask: np.ndarray, rng) -> Image.Image:
    """The mask in ink on off-white, unevenly lit paper, JPEG-compressed."""
    w, h = int(rng.integers(200, 400)), int(rng.integers(200, 360))
    scale = float(rng.uniform(0.4, 1.0))
    side = max(8, int(CANVAS * scale))
    side = min(side, w - 4, h - 4)
    ink_mask = (
        np.asarray(
            Image.fromarray((mask * 255).astype(np.uint8)).resize(
                (side, side), Image.Resampling.BILINEAR
            ),
            np.float32,
        )
        / 255
    )
    yy, xx = np.mgrid[0:h, 0:w]
    base = float(rng.uniform(200, 240))
    light = (
        base
        + rng.uniform(-25, 25) * (xx / w)
        + rng.uniform(-25, 25) * (yy / h)
        + rng.normal(0, 3, (h, w))
    )
    tint = np.array([1.0, rng.uniform(0.96, 1.0), rng.uniform(0.88, 0.99)])
    paper = np.clip(light[..., None] * tint, 0, 255)
    x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    ink = np.array(PAPER_INKS[int(rng.integers(len(PAPER_INKS)))], np.float32)
    strength = ink_mask[..., None] * float(rng.uniform(0.75, 1.0))
    region = paper[y : y + side, x : x + side]
    paper[y : y + side, x : x + side] = region * (1 - strength) + ink * strength
    buffer = io.BytesIO()
    Image.fromarray(paper.astype(np.uint8)).save(buffer, "JPEG", quality=int(rng.integers(55, 95)))
    return Image.open(io.BytesIO(buffer.getvalue()))


# ---------------------------------------------------------------------------------------------
# Public API


def glyph_mask(strokes, box=(50.0, 40.0, 180.0, 200.0), width: int = 22) -> np.ndarray:
    """Unit-box polylines (e.g. LETTERS["E"], SHAPES["star"]) drawn as they are into box
    (x0, y0, w, h) on the canvas with a round brush -> float mask (CANVAS, CANVAS)."""
    x0, y0, w, h = box
    placed = [[(x0 + x * w, y0 + y * h) for x, y in stroke] for stroke in strokes]
    return _draw(placed, width)


def digits_side_by_side(digits, height: float = 120.0, gap: float = 10.0) -> np.ndarray:
    """28x28 MNIST digits written next to each other, left to right -> float mask."""
    out = np.zeros((CANVAS, CANVAS), np.float32)
    x = (CANVAS - len(digits) * height * 0.8 - (len(digits) - 1) * gap) / 2
    for digit in digits:
        big = Image.fromarray(np.asarray(digit, np.uint8)).resize((int(height),) * 2)
        _paste(out, np.asarray(big, np.float32) / 255.0, int(x - height * 0.1), 80)
        x += height * 0.8 + gap
    return out


def negative_mask(family: str, rng, held_out: bool = False, digits=None) -> np.ndarray:
    """The stroke mask (CANVAS, CANVAS) of one negative of the given family."""
    if family == "multi_digit":
        if digits is None:
            raise ValueError("multi_digit needs digits (28x28 MNIST images)")
        return _multi_digit(rng, held_out, np.asarray(digits))
    return _MAKERS[family](rng, held_out)


def negative_picture(rng, families=None, held_out: bool = False, digits=None, mode=None):
    """(picture, family): one picture that is not a single digit.

    families: names from NEGATIVE_FAMILIES (default all; multi_digit only if digits are given);
    held_out: draw only the variants held out from training (see the module docstring);
    digits: 28x28 MNIST images for multi_digit (test digits for a held-out set);
    mode: "canvas", "photo" or "plain" (default: random).
    """
    names = list(families or NEGATIVE_FAMILIES)
    if digits is None:
        names = [n for n in names if n != "multi_digit"]
    weights = np.array([NEGATIVE_FAMILIES[n] for n in names])
    family = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    mask = negative_mask(family, rng, held_out, digits)
    return render(mask, rng, mode), family


def negative_pictures(count: int, seed: int, families=None, held_out=True, digits=None, mode=None):
    """[(picture, family)] * count, reproducible from seed (held-out variants by default)."""
    rng = np.random.default_rng(seed)
    return [negative_picture(rng, families, held_out, digits, mode) for _ in range(count)]


def positive_picture(digit: np.ndarray, rng, mode: str | None = None):
    """One real MNIST digit (28x28 uint8) rendered as a canvas drawing, photo or plain image."""
    if mode is None:
        mode = MODES[int(rng.choice(len(MODES), p=MODE_WEIGHTS))]
    if mode == "plain":
        return np.asarray(digit, np.uint8)
    return render(digit_mask(digit, rng), rng, mode)


__all__ = [
    "LETTERS",
    "SHAPES",
    "STROKE_SYMBOLS",
    "digits_side_by_side",
    "glyph_mask",
    "HELD_OUT_LETTERS",
    "HELD_OUT_SHAPES",
    "HELD_OUT_SYMBOLS",
    "NEGATIVE_FAMILIES",
    "TRAINING_SEED",
    "negative_mask",
    "negative_picture",
    "negative_pictures",
    "positive_picture",
    "render",
]
