"""Many users at once: N real browser sessions against ONE `streamlit run app.py` server.

For every N in --sessions, one Chromium (Debian's, through Playwright's async API) opens N
browser contexts on the Predict page at once. Each session, like a person, draws digits with
the mouse on the canvas, uploads a digit picture and clears the canvas between digits, and
measures the round trip of each input in the page's own clock (bench/load_sessions.py). A
wrong or missing result within --result-timeout, an exception on the page, a page that fails
to load or a canvas reset that never comes back is an error.

The browsers stand in for people's own computers, but here they share the server's cores, so
they run at a lower CPU priority than the server (--browser-nice; bench/load_system.py): the
server gets the CPU it needs first, as on a real deployment, and the browsers get all the rest,
so their own rendering still counts in every latency. Sessions start at random moments within
--ramp-up seconds after every page has loaded.

The server runs with a probe (bench/load_probe/sitecustomize.py, its folder on the server's
PYTHONPATH; the app's code is not changed) that logs every model load, script run,
Streamlit post-run cleanup, full garbage collection, preprocessing, prediction and chart with its
wall and CPU time, so the report can say where the time goes and whether the models were loaded
once for the whole server. --what-if tries fixes in the server the same way (see WHAT_IFS).
The server reads a copy of the active runs (so a training job activating a run mid-bench cannot
change the models) and is always stopped at the end.

Prints JSON (also written to --out; bench/load_report.py). Goal: no errors at 20 sessions, and
the p95 stroke latency at 20 sessions at most 4x the p95 at 1 session.

    python -m bench.load [--sessions 1,5,10,20] [--strokes-per-session 4] [--min-strokes 12]
                         [--uploads-per-session 1] [--think 1.0] [--ramp-up 5]
                         [--browser-nice 19] [--max-seconds 540]
                         [--what-if keep-keras-session,gc-freeze,no-post-script-gc]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.load_report import report, server_summary
from bench.load_sessions import run_level
from bench.load_system import BROWSER_NICE, lower_browser_priority
from mimo.config import registry_dir
from mimo.runs.registry import Registry
from tests.support.browser import (
    PAGE_LOAD_SECONDS,
    RESULT_SECONDS,
    BrowserSetupError,
    launch_options,
    streamlit_server,
)

ROOT = Path(__file__).resolve().parent.parent
# Fixes the bench can try in the server (through its probe or Streamlit's environment), so their
# effect is measured before anyone changes the app:
WHAT_IFS = {
    "keep-keras-session": "skip the keras.backend.clear_session() Streamlit runs after each rerun",
    "gc-freeze": "gc.freeze() once the models are loaded",
    "no-post-script-gc": "runner.postScriptGC = false",
}
PROBE_TAG = "[mimo-load-probe] "
# Loaded by the server's Python at start-up (its folder goes on PYTHONPATH); wraps a few functions
# once their modules are imported and logs one tagged JSON line per call (MIMO_LOAD_PROBE_TAG).
PROBE_DIR = Path(__file__).resolve().parent / "load_probe"


# ---------------------------------------------------------------------------------------------
# Set-up: a private copy of the active runs, the probe


def copy_active_runs(source: Path, target: Path) -> dict:
    """The active colour and sum runs of `source` copied into a new registry at `target`."""
    registry = Registry(source)
    active = registry.active_ids()
    copy = Registry(target)
    for run_id in (active["color"], active["sum"]):
        shutil.copytree(registry.run(run_id).path, copy.runs_dir / run_id)
        copy.activate(run_id)
    return copy.active_ids()


def read_probe_events(log: Path) -> list[dict]:
    """The probe's events, in the order logged, from the server's log."""
    events = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(PROBE_TAG):
            try:
                events.append(json.loads(line[len(PROBE_TAG) :]))
            except json.JSONDecodeError:
                continue
    return events


# ---------------------------------------------------------------------------------------------
# The levels, one after another, against one server


async def run_levels(url: str, server_pid: int, args, deadline: float) -> list[dict]:
    """Every level in --sessions, in one Chromium, until --max-seconds have passed."""
    from playwright.async_api import async_playwright

    levels = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch_options())
        priority = lower_browser_priority(args.browser_nice, server_pid)
        print(f"[load] browser priority: {priority}", file=sys.stderr, flush=True)
        try:
            for sessions in args.sessions:
                if time.monotonic() > deadline:
                    levels.append({"sessions": sessions, "skipped": "out of time (--max-seconds)"})
                    continue
                print(f"[load] {sessions} session(s)…", file=sys.stderr, flush=True)
                level = await run_level(browser, url, sessions, args, deadline, server_pid)
                print(
                    f"[load] {sessions} session(s): {level['errors']} errors, strokes "
                    f"p50 {level['stroke'].get('p50_ms')} ms p95 {level['stroke'].get('p95_ms')}"
                    f" ms, load {level['cpu']['loadavg_end'][0]}",
                    file=sys.stderr,
                    flush=True,
                )
                levels.append(level)
        finally:
            await browser.close()
    return levels


# ---------------------------------------------------------------------------------------------
# The server, from start to stop


def measure(args, deadline: float) -> tuple[list[dict], list[dict], dict]:
    """Start the server (on a copy of the active runs, with the probe), run every level against
    it, stop it. Returns (levels, probe events, active run ids)."""
    with tempfile.TemporaryDirectory(prefix="mimo-load-") as tmp:
        tmp = Path(tmp)
        active = copy_active_runs(args.registry or registry_dir(), tmp / "registry")
        log = tmp / "server.log"
        env = {
            "PYTHONPATH": f"{PROBE_DIR}{os.pathsep}{ROOT}",
            "MIMO_LOAD_PROBE_TAG": PROBE_TAG,
            "MIMO_REGISTRY": str(tmp / "registry"),
            "MIMO_LOAD_WHAT_IF": ",".join(args.what_if),
        }
        if "no-post-script-gc" in args.what_if:
            env["STREAMLIT_RUNNER_POST_SCRIPT_GC"] = "false"
        try:
            launch_options()  # fail early, with the fix, when Chromium is missing
            with streamlit_server(log, env) as server:
                print(f"[load] server {server.url} (pid {server.process.pid})", file=sys.stderr)
                levels = asyncio.run(run_levels(server.url, server.process.pid, args, deadline))
        finally:
            if args.keep_log and log.exists():
                shutil.copy(log, args.keep_log)
        events = read_probe_events(log)
    for level in levels:
        window = level.pop("_window", None)
        if window:
            level["server"] = server_summary(events, *window)
    return levels, events, active


# ---------------------------------------------------------------------------------------------
# The command line


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sessions",
        type=lambda text: [int(n) for n in text.split(",") if n.strip()],
        default=[1, 5, 10, 20],
        help="concurrent sessions per level, comma-separated (default 1,5,10,20)",
    )
    parser.add_argument("--strokes-per-session", type=int, default=4)
    parser.add_argument(
        "--min-strokes",
        type=int,
        default=12,
        help="at least this many strokes per level: small levels draw more per session",
    )
    parser.add_argument("--uploads-per-session", type=int, default=1)
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between inputs, s")
    parser.add_argument(
        "--ramp-up",
        type=float,
        default=5.0,
        help="each session starts at a random moment within this many seconds (default 5)",
    )
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=BROWSER_NICE,
        help=f"CPU priority of the browsers below the server's (default {BROWSER_NICE}; 0: same)",
    )
    parser.add_argument("--result-timeout", type=float, default=RESULT_SECONDS)
    parser.add_argument("--page-timeout", type=float, default=PAGE_LOAD_SECONDS)
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=540,
        help="stop starting new inputs (and levels) after this long",
    )
    parser.add_argument(
        "--what-if",
        type=lambda text: sorted(filter(None, text.split(","))),
        default=[],
        help="try fixes in the server without changing the app, comma-separated: "
        + ", ".join(WHAT_IFS),
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--registry", type=Path, default=None, help="registry to copy the active runs from"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--keep-log", type=Path, default=None, help="copy the server log here")
    args = parser.parse_args(argv)
    if not args.sessions or min(args.sessions) < 1:
        parser.error("--sessions needs positive numbers")
    unknown = set(args.what_if) - set(WHAT_IFS)
    if unknown:
        parser.error(f"unknown --what-if {', '.join(sorted(unknown))}")
    return args


def _interrupt(signum, frame):
    """A SIGTERM ends the bench like Ctrl-C, so the server is stopped on the way out."""
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        levels, events, active = measure(args, deadline=started + args.max_seconds)
    except BrowserSetupError as exc:
        print(f"[load] {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("[load] interrupted; the server was stopped", file=sys.stderr)
        return 130
    result = report(args, levels, events, active, time.monotonic() - started)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    loads = result["models"]
    if not loads["probe_active"]:
        verdict = "an unknown number of times (the probe did not report)"
    else:
        verdict = "once" if loads["loaded_once"] else f"{loads['model_loads']} times"
    print(f"[load] models loaded {verdict} for the whole server", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
