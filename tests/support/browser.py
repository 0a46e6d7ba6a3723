"""The app in a real browser, shared by tests/test_browser.py and bench/load.py.

- `streamlit_server()`: `streamlit run app.py` on a free loopback port, healthy when entered,
  always stopped (and only it) on exit.
- `chromium_executable()`, `launch_options()`, `launch_chromium()`: Debian's Chromium
  (/usr/bin/chromium, or MIMO_CHROMIUM) through Playwright; `playwright install` cannot download
  browsers here.
- The page as a user sees it: STROKES (mouse paths of digits), `jittered()` copies of them,
  `stroke_picture()` (the same digit as an image file to upload), and the JavaScript that reads
  the keyed result containers and Streamlit's script state.
- The interactions, twice: plain functions for Playwright's sync API (the test) and `async`
  twins for its async API (the load bench, which drives many pages at once). Both flavours use
  the same selectors, JavaScript, timeouts and stroke geometry defined here, so they cannot
  drift apart.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import itertools
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout  # the async API's too

from tests.support import ROOT

CHROMIUM = os.environ.get("MIMO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
SCREENS = {  # the screens the Predict page is made for: name: (width, height, drawn with a finger)
    "desktop": (1400, 900, False),
    "laptop": (1024, 768, False),
    "phone": (390, 844, True),
}
SERVER_START_SECONDS = 90
PAGE_LOAD_SECONDS = 120  # the first run of the Predict page imports TensorFlow, loads the models
RESULT_SECONDS = 30

COLOR_RESULT = ".st-key-color-model-result"
SUM_RESULT = ".st-key-sum-model-result"
EXCEPTION = "[data-testid='stException']"
CANVAS = "canvas.upper-canvas"
# The canvas toolbar's buttons, pinned and labelled by mimo/app/assets/predict.js.
UNDO, REDO, CLEAR = "Undo", "Redo", "Clear (reset canvas & history)"
EXPLANATIONS = {  # the keyed explanation part of each model
    "color": ".st-key-color-model-explanation",
    "sum": ".st-key-sum-model-explanation",
}
CANVAS_SIZE = 280
FALLBACK_POLL_MS = 250  # watch_js re-checks this often what no page change announces
MOVE_STEPS = 4  # mouse moves between two points of a stroke, as a hand moves

# Mouse paths in canvas pixels (280x280), drawn like a person draws the digit.
STROKES = {
    "1": [[(150, 45), (146, 90), (143, 140), (140, 190), (138, 235)]],
    "7": [[(80, 55), (140, 52), (205, 50), (185, 100), (160, 150), (140, 195), (125, 240)]],
    "0": [
        [
            (140 + 62 * math.sin(t / 24 * 2 * math.pi), 140 - 92 * math.cos(t / 24 * 2 * math.pi))
            for t in range(26)
        ]
    ],
}


class BrowserSetupError(RuntimeError):
    """The server or the browser could not be started; the message says why (with the log)."""


# ---------------------------------------------------------------------------------------------
# The server


@dataclass(frozen=True)
class StreamlitServer:
    url: str
    process: subprocess.Popen
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the process that started it dies, so a
    killed test or bench never leaves a server behind."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _log_tail(log: Path, chars: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrowserSetupError(
                f"streamlit exited with {process.returncode}:\n{_log_tail(log)}"
            )
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise BrowserSetupError(
        f"streamlit did not start within {SERVER_START_SECONDS}s:\n{_log_tail(log)}"
    )


@contextlib.contextmanager
def streamlit_server(log: Path, env: dict[str, str] | None = None) -> Iterator[StreamlitServer]:
    """`streamlit run app.py` on a free 127.0.0.1 port, writing stdout and stderr to `log`.

    Yields once the server answers its health check; raises BrowserSetupError if it does not.
    The server is stopped on exit, however the block ends. `env` adds to os.environ.
    """
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), **(env or {})}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
    ]
    with open(log, "w") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # the caller's main thread starts it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process, log)
        yield StreamlitServer(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------------------------------------
# The browser


def chromium_executable() -> str:
    """The Chromium binary to drive; BrowserSetupError with the fix when there is none."""
    if (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)) or shutil.which(CHROMIUM):
        return CHROMIUM
    raise BrowserSetupError(
        f"Chromium not found at {CHROMIUM}. Install Debian's build: apt-get install chromium "
        "(or set MIMO_CHROMIUM to a Chromium binary)."
    )


def launch_options() -> dict:
    """Keyword arguments for `playwright.chromium.launch()`, sync or async."""
    return {"executable_path": chromium_executable(), "args": CHROMIUM_ARGS}


def launch_chromium(playwright):
    """Chromium through Playwright's sync API (async: `chromium.launch(**launch_options())`)."""
    return playwright.chromium.launch(**launch_options())


# ---------------------------------------------------------------------------------------------
# Digits


def jittered(strokes, rng: random.Random, shift: float = 8.0, wobble: float = 2.0):
    """The strokes moved as a whole by up to `shift` pixels and every point by up to `wobble`:
    the same digit, but a drawing (and so an image, and a prediction cache key) of its own."""
    dx, dy = rng.uniform(-shift, shift), rng.uniform(-shift, shift)
    return [
        [
            (x + dx + rng.uniform(-wobble, wobble), y + dy + rng.uniform(-wobble, wobble))
            for x, y in stroke
        ]
        for stroke in strokes
    ]


def stroke_picture(strokes, ink: str = "#FF4B4B", width: int = 22) -> bytes:
    """PNG bytes of the strokes drawn in `ink` on a black 280x280 picture, like a saved drawing."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (CANVAS_SIZE, CANVAS_SIZE), "black")
    pen = ImageDraw.Draw(picture)
    for stroke in strokes:
        pen.line(stroke, fill=ink, width=width, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=ink)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _on_page(box: dict, stroke) -> list[tuple[float, float]]:
    return [(box["x"] + x, box["y"] + y) for x, y in stroke]


# ---------------------------------------------------------------------------------------------
# JavaScript read in the page

SCRIPT_STATE = "document.querySelector(\"[data-testid='stApp']\")?.dataset.testScriptState"
RUN_FINISHED = f"() => {SCRIPT_STATE} === 'notRunning'"
RUN_STARTED = f"() => {SCRIPT_STATE} === 'running'"
# The Predict page shows a placeholder instead of the canvas while the server loads the models.
MODELS_READY = """() => document.querySelector(".st-key-canvas-loading") === null"""
HINT_SHOWN = """() => document.querySelector(".st-key-color-model-result") === null
                 && [...document.querySelectorAll("[data-testid='stAlert']")]
                    .some(a => a.innerText.includes("Draw a digit"))"""


def metric_js(container: str, label: str) -> str:
    """A JS expression: the value of the metric `label` inside `container`, or null."""
    return f"""
        (() => {{
            const box = document.querySelector("{container}");
            if (!box) return null;
            for (const m of box.querySelectorAll("[data-testid='stMetric']")) {{
                const l = m.querySelector("[data-testid='stMetricLabel']");
                const v = m.querySelector("[data-testid='stMetricValue']");
                if (l && v && l.innerText.trim() === "{label}") return v.innerText.trim();
            }}
            return null;
        }})()"""


def digit_shown_js(digit: str) -> str:
    """A JS predicate: both Digit metrics show `digit`."""
    color, total = metric_js(COLOR_RESULT, "Digit"), metric_js(SUM_RESULT, "Digit")
    return f'() => {color} === "{digit}" && {total} === "{digit}"'


def explained_js(digit: str) -> str:
    """A JS predicate: both explanation parts are on the page for a reading of `digit`, each with
    at least two pictures, and the sum model's with its image/number split in percent."""
    color, total = EXPLANATIONS["color"], EXPLANATIONS["sum"]
    return f"""() => {{
        const parts = [document.querySelector("{color}"), document.querySelector("{total}")];
        if (parts.some(p => !p || p.querySelectorAll("img").length < 2)) return false;
        if (!/image \\d+% · number \\d+%/.test(parts[1].textContent)) return false;
        return parts.every(p => p.textContent.includes("Digit {digit}:"));
    }}"""


# A JS function: sample points over the canvas and return those where something else is on top
# of it (the drawing surface is inside the component's shadow root).
CANVAS_HOST = ".st-key-canvas [data-testid='stBidiComponentIsolated']"  # its shadow root's host
CANVAS_COVERED_AT = f"""() => {{
    const host = document.querySelector("{CANVAS_HOST}");
    const canvas = host.shadowRoot.querySelector("canvas.upper-canvas");
    const box = canvas.getBoundingClientRect();
    const covered = [];
    for (const fx of [0.03, 0.25, 0.5, 0.75, 0.97]) {{
        for (const fy of [0.03, 0.25, 0.5, 0.75, 0.97]) {{
            const x = box.left + fx * box.width, y = box.top + fy * box.height;
            const outer = document.elementFromPoint(x, y);
            const inner = outer === host ? host.shadowRoot.elementFromPoint(x, y) : outer;
            if (inner !== canvas) covered.push([Math.round(x), Math.round(y), inner?.className]);
        }}
    }}
    const scroller = host.shadowRoot.querySelector(".dc-scroll");
    if (scroller.scrollWidth > scroller.clientWidth + 1) {{
        covered.push(["clipped", scroller.clientWidth]);
    }}
    return covered;
}}"""


def shown_without_hover_js(label: str) -> str:
    """A JS predicate: the canvas toolbar's button `label` is fully opaque and inside the window,
    with the pointer nowhere near it."""
    return f"""() => {{
        const host = document.querySelector("{CANVAS_HOST}");
        const button = host?.shadowRoot.querySelector(".dc-icon-button[aria-label='{label}']");
        if (!button) return false;
        let opacity = 1;
        for (let e = button; e && e !== host.shadowRoot; e = e.parentElement)
            opacity *= Number(getComputedStyle(e).opacity);
        const box = button.getBoundingClientRect();
        return opacity > 0.99 && box.width > 0 && box.left >= 0 && box.right <= innerWidth;
    }}"""


def watch_js(predicate: str) -> str:
    """A JS function of a timeout (ms): a promise of performance.now() at the first animation
    frame after `predicate` (a JS function source) holds, or of null after the timeout.

    The predicate is checked at once and after every change to the page (a MutationObserver),
    not on every animation frame as Playwright's wait_for_function polls: with twenty pages
    open in one browser (bench/load.py), polling every frame of every page cost a quarter of a
    core. The frame after the change is when the user sees it. Changes the observer cannot see
    (inside a component's shadow root, a style taking effect) are caught by a slow poll.
    """
    return f"""(timeoutMs) => new Promise((resolve) => {{
        const FALLBACK_POLL_MS = {FALLBACK_POLL_MS};
        const holds = {predicate};
        let settled = false;
        const settle = (value) => {{
            if (!settled) {{
                settled = true; clearTimeout(timer); clearInterval(poll); resolve(value);
            }}
        }};
        const observer = new MutationObserver(() => check());
        const check = () => {{
            if (settled || !holds()) return;
            observer.disconnect();
            requestAnimationFrame(() => settle(performance.now()));
        }};
        const timer = setTimeout(() => {{ observer.disconnect(); settle(null); }}, timeoutMs);
        const poll = setInterval(check, FALLBACK_POLL_MS);
        observer.observe(document, {{
            subtree: true, childList: true, attributes: true, characterData: true,
        }});
        check();
    }})"""


def _timed_out(shown_at, predicate: str, timeout_s: float) -> float:
    if shown_at is None:
        raise PlaywrightTimeout(f"not within {timeout_s:.0f}s: {' '.join(predicate.split())}")
    return float(shown_at)


# ---------------------------------------------------------------------------------------------
# Sync API (tests/test_browser.py)


def open_app(page, url: str) -> None:
    """Load a page and wait for its first script run, and for the models (a fresh server loads
    them in the background, and the Predict page waits for them before it shows the canvas)."""
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("[data-testid='stApp']", timeout=PAGE_LOAD_SECONDS * 1000)
    wait_for_run_to_finish(page, timeout_s=PAGE_LOAD_SECONDS)
    wait_until(page, MODELS_READY, timeout_s=PAGE_LOAD_SECONDS)
    wait_for_run_to_finish(page, timeout_s=PAGE_LOAD_SECONDS)


def wait_until(page, predicate: str, timeout_s: float = RESULT_SECONDS) -> float:
    """Until the JS `predicate` holds; the page's performance.now() then (ms). PlaywrightTimeout
    after `timeout_s`."""
    return _timed_out(page.evaluate(watch_js(predicate), timeout_s * 1000), predicate, timeout_s)


def wait_for_run_to_finish(page, timeout_s: float = RESULT_SECONDS) -> None:
    """Until the app's script run is over (Streamlit marks it on the stApp element)."""
    wait_until(page, RUN_FINISHED, timeout_s)


def wait_for_rerun(page) -> None:
    """After an interaction: let its rerun start (if it has not already), then finish."""
    with contextlib.suppress(PlaywrightTimeout):  # already over, or quicker than the polling
        wait_until(page, RUN_STARTED, timeout_s=2)
    wait_for_run_to_finish(page)


def canvas(page):
    locator = page.locator(CANVAS)
    locator.wait_for(state="visible", timeout=RESULT_SECONDS * 1000)
    return locator


def draw(page, strokes) -> float:
    """Draw the strokes with the mouse; returns perf_counter() at the last mouse up."""
    box = canvas(page).bounding_box()
    released = 0.0
    for stroke in strokes:
        (x, y), *rest = _on_page(box, stroke)
        page.mouse.move(x, y)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(x, y, steps=MOVE_STEPS)
        page.mouse.up()
        released = time.perf_counter()
    return released


def new_screen_page(browser, screen: str):
    """(context, page) for one of SCREENS; close the context when done."""
    width, height, touch = SCREENS[screen]
    context = browser.new_context(
        viewport={"width": width, "height": height}, has_touch=touch, is_mobile=touch
    )
    return context, context.new_page()


def draw_as_on(screen: str, page, strokes) -> float:
    """Draw with a finger on a phone, with the mouse elsewhere (see draw(), touch_draw())."""
    return (touch_draw if SCREENS[screen][2] else draw)(page, strokes)


def press(screen: str, locator) -> None:
    """Tap on a phone, click elsewhere."""
    locator.tap() if SCREENS[screen][2] else locator.click()


def touch_draw(page, strokes) -> float:
    """Draw the strokes with a finger (Chrome DevTools touch events), as on a phone; returns
    perf_counter() when the finger lifts for the last time."""
    box = canvas(page).bounding_box()
    session = page.context.new_cdp_session(page)
    released = 0.0
    for stroke in strokes:
        points = _on_page(box, stroke)
        session.send("Input.dispatchTouchEvent", _touch("touchStart", points[0]))
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            for step in range(1, MOVE_STEPS + 1):
                t = step / MOVE_STEPS
                point = (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
                session.send("Input.dispatchTouchEvent", _touch("touchMove", point))
        session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        released = time.perf_counter()
    session.detach()
    return released


def _touch(kind: str, point) -> dict:
    return {"type": kind, "touchPoints": [{"x": point[0], "y": point[1]}]}


def metric(page, container: str, label: str) -> str | None:
    return page.evaluate(metric_js(container, label))


def wait_for_digit(page, digit: str, timeout_s: float = RESULT_SECONDS) -> float:
    """Until both Digit metrics show `digit`; returns perf_counter() at that moment."""
    wait_until(page, digit_shown_js(digit), timeout_s)
    return time.perf_counter()


def wait_for_hint(page, timeout_s: float = RESULT_SECONDS) -> None:
    """Until the results are gone and the calm "Draw a digit" hint shows."""
    wait_until(page, HINT_SHOWN, timeout_s)


def toolbar_button(page, label: str):
    """The canvas toolbar's button `label` (UNDO, REDO, CLEAR), shown without hovering."""
    wait_until(page, shown_without_hover_js(label))
    return page.locator(f"button.dc-icon-button[aria-label='{label}']")


def choose(page, radio: str, option: str) -> None:
    page.get_by_role("radiogroup", name=radio).get_by_text(option, exact=True).click()


# ---------------------------------------------------------------------------------------------
# Async API twins (bench/load.py): the same steps, awaited


async def wait_until_async(page, predicate: str, timeout_s: float = RESULT_SECONDS) -> float:
    shown_at = await page.evaluate(watch_js(predicate), timeout_s * 1000)
    return _timed_out(shown_at, predicate, timeout_s)


async def open_app_async(page, url: str, timeout_s: float = PAGE_LOAD_SECONDS) -> None:
    await page.goto(url, wait_until="domcontentloaded", timeout=timeout_s * 1000)
    await page.wait_for_selector("[data-testid='stApp']", timeout=timeout_s * 1000)
    await wait_until_async(page, RUN_FINISHED, timeout_s)
    await wait_until_async(page, MODELS_READY, timeout_s)
    await wait_until_async(page, RUN_FINISHED, timeout_s)


async def canvas_async(page, timeout_s: float = RESULT_SECONDS):
    locator = page.locator(CANVAS)
    await locator.wait_for(state="visible", timeout=timeout_s * 1000)
    return locator


async def draw_async(page, strokes) -> None:
    """Draw the strokes with the mouse, as draw() does."""
    box = await (await canvas_async(page)).bounding_box()
    for stroke in strokes:
        (x, y), *rest = _on_page(box, stroke)
        await page.mouse.move(x, y)
        await page.mouse.down()
        for x, y in rest:
            await page.mouse.move(x, y, steps=MOVE_STEPS)
        await page.mouse.up()


async def metric_async(page, container: str, label: str) -> str | None:
    return await page.evaluate(metric_js(container, label))


async def wait_for_digit_async(page, digit: str, timeout_s: float = RESULT_SECONDS) -> float:
    """Until both Digit metrics show `digit`; returns the page's performance.now() then (ms)."""
    return await wait_until_async(page, digit_shown_js(digit), timeout_s)


async def wait_for_hint_async(page, timeout_s: float = RESULT_SECONDS) -> None:
    await wait_until_async(page, HINT_SHOWN, timeout_s)


async def toolbar_button_async(page, label: str, timeout_s: float = RESULT_SECONDS):
    await wait_until_async(page, shown_without_hover_js(label), timeout_s)
    return page.locator(f"button.dc-icon-button[aria-label='{label}']")


async def choose_async(page, radio: str, option: str, timeout_s: float = RESULT_SECONDS) -> None:
    group = page.get_by_role("radiogroup", name=radio)
    await group.get_by_text(option, exact=True).click(timeout=timeout_s * 1000)
