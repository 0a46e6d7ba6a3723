"""bench/load.py's people: browser sessions on the Predict page, and a level of N at once.

A `Session` is one person at a browser: it opens the page, then, at its own pace, draws digits
with the mouse on the canvas (each drawing jittered, so every image is new to the server's
caches), uploads a digit picture, and clears the canvas between digits. It measures the round
trip of each input in the page's own clock (TIMING_JS): from the mouse up, or the file being set
on the input, until both result containers show the expected Digit. Errors: a wrong or missing
result, an exception element on the page, a page that fails to load, a canvas reset that never
comes back. `run_level` plays N sessions at once in one browser and summarises them.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field

from bench.load_report import summary
from bench.load_system import CpuSnapshot, cpu_between
from tests.support.browser import (
    CLEAR,
    COLOR_RESULT,
    EXCEPTION,
    STROKES,
    SUM_RESULT,
    VIEWPORT,
    choose_async,
    draw_async,
    jittered,
    metric_async,
    open_app_async,
    stroke_picture,
    toolbar_button_async,
    wait_for_digit_async,
    wait_for_hint_async,
)

DIGITS = ("1", "7", "0")  # the STROKES digits, drawn in turn
THINK_SPREAD = (0.5, 1.5)  # each pause between inputs is --think times a factor in this range
ERROR_DETAIL_CHARS = 300  # an error's detail is cut to this length in the report
ERROR_EXAMPLES = 5  # errors quoted in full per level

# Records, in the page's clock, when the mouse was released and when a file was set.
TIMING_JS = """
(() => {
    const bench = (window.__mimoBench = { up: null, fileSet: null });
    const released = () => { bench.up = performance.now(); };
    window.addEventListener("pointerup", released, true);
    window.addEventListener("mouseup", released, true);
    window.addEventListener("change", (event) => {
        const target = event.target;
        if (target instanceof HTMLInputElement && target.type === "file") {
            bench.fileSet = performance.now();
        }
    }, true);
})();
"""


# ---------------------------------------------------------------------------------------------
# One session: a person at a browser


@dataclass
class Sample:
    session: int
    kind: str  # "stroke" or "upload"
    round: int
    page_ms: float  # in the page's clock: input done -> both Digit metrics right
    harness_ms: float  # the same, seen from this script


@dataclass
class Session:
    index: int
    url: str
    plan: list[tuple[str, str]]  # ("draw" | "upload", digit)
    rng: random.Random
    think_s: float
    start_within_s: float
    result_timeout_s: float
    page_timeout_s: float
    deadline: float
    samples: list[Sample] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    page_load_ms: list[float] = field(default_factory=list)
    rounds_done: int = 0

    def error(self, kind: str, detail: str = "", round_: int | None = None) -> None:
        detail = detail[:ERROR_DETAIL_CHARS]
        self.errors.append({"session": self.index, "round": round_, "kind": kind, "detail": detail})

    async def run(self, context, all_loaded: asyncio.Barrier, on_all_loaded) -> None:
        """Open the page, wait until every session's page has loaded (loading N pages is the
        browser's heaviest moment and would pile onto the first strokes), then play the plan."""
        opened = False
        try:
            page = await context.new_page()
            opened = await self._open(page)
        except Exception as exc:
            self.error("page_load", f"{type(exc).__name__}: {exc}")
        if await all_loaded.wait() == 0:  # exactly one session gets 0
            on_all_loaded()
        if not opened:
            return
        try:
            # People do not all start at the same second: each session starts at a random
            # moment within --ramp-up, so the first strokes are not one burst.
            await asyncio.sleep(self.rng.uniform(0, self.start_within_s))
            for round_, (action, digit) in enumerate(self.plan):
                if time.monotonic() > self.deadline:
                    break
                step = self._draw if action == "draw" else self._upload
                try:
                    ok = await step(page, digit, round_)
                    if ok and await page.locator(EXCEPTION).count():
                        text = await page.locator(EXCEPTION).first.inner_text()
                        self.error("exception", text, round_)
                        ok = False
                except Exception as exc:  # e.g. the canvas never showed
                    self.error(action, f"{type(exc).__name__}: {exc}", round_)
                    ok = False
                self.rounds_done += 1
                if not ok and not await self._open(page):
                    return
                await asyncio.sleep(self.think_s * self.rng.uniform(*THINK_SPREAD))
        except Exception as exc:  # a crashed page or browser: an error, never a stuck bench
            self.error("session", f"{type(exc).__name__}: {exc}")

    async def _open(self, page) -> bool:
        """(Re)load the page until the calm hint shows; False (and an error) if it does not."""
        started = time.perf_counter()
        try:
            await open_app_async(page, self.url, self.page_timeout_s)
            await wait_for_hint_async(page, self.page_timeout_s)
        except Exception as exc:
            self.error("page_load", f"{type(exc).__name__}: {exc}")
            return False
        self.page_load_ms.append((time.perf_counter() - started) * 1000)
        return True

    async def _await_result(self, page, kind: str, digit: str, round_: int, since: float) -> bool:
        """Wait for both Digit metrics to show `digit`; record the round trip or the error."""
        mark = "up" if kind == "stroke" else "fileSet"
        try:
            shown_at = await wait_for_digit_async(page, digit, self.result_timeout_s)
        except Exception as exc:
            await self._classify_failure(page, kind, digit, round_, exc)
            return False
        seen = time.perf_counter()
        done_at = await page.evaluate(f"window.__mimoBench.{mark}")
        if done_at is None:
            self.error("harness", f"no {mark} time recorded in the page", round_)
            return False
        self.samples.append(
            Sample(self.index, kind, round_, shown_at - done_at, (seen - since) * 1000)
        )
        return True

    @staticmethod
    async def _digits_shown(page) -> tuple[str | None, str | None]:
        """The two Digit metrics on the page now ((None, None) when there are none)."""
        try:
            return (
                await metric_async(page, COLOR_RESULT, "Digit"),
                await metric_async(page, SUM_RESULT, "Digit"),
            )
        except Exception:
            return (None, None)

    async def _classify_failure(self, page, kind, digit, round_, exc) -> None:
        try:
            if await page.locator(EXCEPTION).count():
                text = await page.locator(EXCEPTION).first.inner_text()
                self.error("exception", text, round_)
                return
        except Exception:
            pass
        shown = await self._digits_shown(page)
        if shown == (None, None):
            what = "missing"
        elif shown == (digit, digit):
            what = "late"  # right, but only after the timeout
        else:
            what = "wrong"
        self.error(
            f"{what}_result",
            f"{kind} of {digit}: shown {shown} after {self.result_timeout_s:.0f}s "
            f"({type(exc).__name__})",
            round_,
        )

    async def _draw(self, page, digit: str, round_: int) -> bool:
        await draw_async(page, jittered(STROKES[digit], self.rng))
        released = time.perf_counter()
        if not await self._await_result(page, "stroke", digit, round_, released):
            return False
        return await self._back_to_hint(page, round_, self._clear_canvas(page))

    async def _clear_canvas(self, page) -> None:
        """Clear the canvas for the next digit, as a person would."""
        button = await toolbar_button_async(page, CLEAR)
        await button.click(timeout=self.result_timeout_s * 1000)

    async def _upload(self, page, digit: str, round_: int) -> bool:
        picture = stroke_picture(jittered(STROKES[digit], self.rng))
        chosen = time.perf_counter()
        await page.locator("input[type=file]").set_input_files(
            {"name": f"digit-{digit}.png", "mimeType": "image/png", "buffer": picture},
            timeout=self.result_timeout_s * 1000,
        )
        if not await self._await_result(page, "upload", digit, round_, chosen):
            return False
        back_to_drawing = choose_async(page, "Predict from", "Drawing", self.result_timeout_s)
        return await self._back_to_hint(page, round_, back_to_drawing)

    async def _back_to_hint(self, page, round_: int, reset) -> bool:
        """Await `reset` (what clears the input), then the calm hint; False and a "reset" error,
        with the digits still shown, if it does not come back."""
        try:
            await reset
            await wait_for_hint_async(page, self.result_timeout_s)
        except Exception as exc:
            shown = await self._digits_shown(page)
            self.error("reset", f"{type(exc).__name__}: {exc}; digits shown {shown}", round_)
            return False
        return True


def session_plan(index: int, draws: int, uploads: int) -> list[tuple[str, str]]:
    """`draws` drawings in turn through DIGITS, with `uploads` uploads spread among them."""
    plan = [("draw", DIGITS[(index + k) % len(DIGITS)]) for k in range(draws)]
    for k in reversed(range(uploads)):
        at = round((k + 1) * draws / (uploads + 1))
        plan.insert(at, ("upload", DIGITS[(index + k + 1) % len(DIGITS)]))
    return plan


# ---------------------------------------------------------------------------------------------
# A level: N sessions at once


async def run_level(browser, url: str, sessions: int, args, deadline: float, server_pid: int):
    """N sessions at once, each in a browser context of its own; the level's figures.

    Small levels draw more per session, so that every level has at least --min-strokes. CPU is
    accounted from the moment every page has loaded; "_window" (epoch seconds, from then to
    the end) is for the server's side of the report.
    """
    draws = max(args.strokes_per_session, math.ceil(args.min_strokes / sessions))
    contexts = await asyncio.gather(
        *(browser.new_context(viewport=VIEWPORT) for _ in range(sessions))
    )
    for context in contexts:
        await context.add_init_script(TIMING_JS)
    people = [
        Session(
            index=i,
            url=url,
            plan=session_plan(i, draws, args.uploads_per_session),
            rng=random.Random(f"{args.seed}-{sessions}-{i}"),
            think_s=args.think,
            start_within_s=args.ramp_up,
            result_timeout_s=args.result_timeout,
            page_timeout_s=args.page_timeout,
            deadline=deadline,
        )
        for i in range(sessions)
    ]
    opening = CpuSnapshot.take(server_pid)
    loaded: dict = {}

    def on_all_loaded() -> None:
        loaded.update(at=time.time(), cpu=CpuSnapshot.take(server_pid))

    all_loaded = asyncio.Barrier(sessions)
    await asyncio.gather(
        *(
            person.run(c, all_loaded, on_all_loaded)
            for person, c in zip(people, contexts, strict=True)
        )
    )
    ended_at, after = time.time(), CpuSnapshot.take(server_pid)
    started_at, before = loaded["at"], loaded["cpu"]
    await asyncio.gather(*(context.close() for context in contexts), return_exceptions=True)

    samples = [s for person in people for s in person.samples]
    errors = [e for person in people for e in person.errors]
    strokes = [s for s in samples if s.kind == "stroke"]
    kinds: dict[str, int] = {}
    for error in errors:
        kinds[error["kind"]] = kinds.get(error["kind"], 0) + 1
    planned = sum(len(person.plan) for person in people)
    return {
        "sessions": sessions,
        "plan_per_session": {"draws": draws, "uploads": args.uploads_per_session},
        "rounds": {"planned": planned, "done": sum(p.rounds_done for p in people)},
        "errors": len(errors),
        "error_kinds": kinds,
        "error_examples": errors[:ERROR_EXAMPLES],
        "stroke": summary([s.page_ms for s in strokes]),
        "stroke_after_first": summary([s.page_ms for s in strokes if s.round > 0]),
        "upload": summary([s.page_ms for s in samples if s.kind == "upload"]),
        "all_inputs": summary([s.page_ms for s in samples]),
        "stroke_seen_by_harness": summary([s.harness_ms for s in strokes]),
        "page_load": summary([ms for person in people for ms in person.page_load_ms]),
        "cpu_page_loads": cpu_between(opening, before),
        "cpu": cpu_between(before, after),
        "_window": (started_at, ended_at),
    }
