"""Stroke to results, and stroke to explanations, on the Predict page in a real browser.

Starts `streamlit run app.py`, opens the Predict page at each screen size, and draws digits one
after another (each a slightly different drawing, cleared in between). For every stroke it times,
from mouse-up (or finger-up on the phone), when both models' Digit metrics show the new answer
and when both explanation parts show their maps for it. Prints JSON: medians and p95 per screen.

    python -m bench.predict_page [--strokes 12]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from tests.support.browser import (
    CLEAR,
    SCREENS,
    STROKES,
    draw_as_on,
    explained_js,
    jittered,
    launch_chromium,
    new_screen_page,
    open_app,
    press,
    streamlit_server,
    toolbar_button,
    wait_for_digit,
    wait_for_hint,
    wait_until,
)

WARM_UP_STROKES = 2  # not counted: the browser's first layout of every piece of the page


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict:
    return {
        "median_ms": round(statistics.median(values)),
        "p95_ms": round(percentile(values, 0.95)),
        "max_ms": round(max(values)),
    }


def one_screen(browser, url: str, screen: str, strokes: int, rng: random.Random) -> dict:
    context, page = new_screen_page(browser, screen)
    open_app(page, url)
    to_results, to_explanations = [], []
    digits = list(STROKES)
    for i in range(WARM_UP_STROKES + strokes):
        digit = digits[i % len(digits)]
        released = draw_as_on(screen, page, jittered(STROKES[digit], rng))
        results = wait_for_digit(page, digit)
        wait_until(page, explained_js(digit))
        explained = time.perf_counter()
        if i >= WARM_UP_STROKES:
            to_results.append((results - released) * 1000)
            to_explanations.append((explained - released) * 1000)
        press(screen, toolbar_button(page, CLEAR))
        wait_for_hint(page)
    context.close()
    return {
        "strokes": strokes,
        "stroke_to_results": summary(to_results),
        "stroke_to_explanations": summary(to_explanations),
        "explanations_after_results": summary(
            [e - r for e, r in zip(to_explanations, to_results, strict=True)]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=12, help="timed strokes per screen")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rng = random.Random(args.seed)
    with (
        tempfile.TemporaryDirectory() as folder,
        streamlit_server(Path(folder) / "server.log") as server,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        report = {
            screen: one_screen(browser, server.url, screen, args.strokes, rng) for screen in SCREENS
        }
        browser.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
