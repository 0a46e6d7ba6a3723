"""The first prediction after a fresh server start, in a real browser.

Starts `streamlit run app.py`, opens the Predict page the moment the server answers its health
check, waits for the canvas (it appears once the models are loaded), draws a 1 and times the
round trip from mouse-up to both results. Prints JSON; repeats with a new server each time.

    python -m bench.warm_start [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from tests.support.browser import (
    CANVAS,
    STROKES,
    VIEWPORT,
    draw,
    launch_chromium,
    streamlit_server,
    wait_for_digit,
)

MODELS_READY_SECONDS = 120


def one_start(browser) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        with streamlit_server(Path(folder) / "server.log") as server:
            healthy = time.perf_counter()
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.goto(server.url, wait_until="domcontentloaded")
            page.locator(CANVAS).wait_for(state="visible", timeout=MODELS_READY_SECONDS * 1000)
            canvas_shown = time.perf_counter()
            released = draw(page, STROKES["1"])
            shown = wait_for_digit(page, "1")
            context.close()
    return {
        "server_healthy_s": round(healthy - started, 2),
        "canvas_shown_after_open_s": round(canvas_shown - healthy, 2),
        "first_stroke_to_result_ms": round((shown - released) * 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        runs = [one_start(browser) for _ in range(args.repeats)]
        browser.close()
    first = [run["first_stroke_to_result_ms"] for run in runs]
    print(
        json.dumps(
            {
                "benchmark": "first prediction after a fresh `streamlit run app.py`",
                "runs": runs,
                "first_stroke_to_result_median_ms": statistics.median(first),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
