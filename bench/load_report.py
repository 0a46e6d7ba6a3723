"""bench/load.py's report: latency summaries, what the server's probe saw, and the goal.

The goal: no errors at GOAL_SESSIONS sessions, and the p95 stroke latency there at most
GOAL_P95_RATIO times the p95 at BASE_SESSIONS session(s).
"""

from __future__ import annotations

import os

import numpy as np

GOAL_SESSIONS = 20
BASE_SESSIONS = 1
GOAL_P95_RATIO = 4.0
# Calls timed by the probe (bench/load_probe/sitecustomize.py), summarised one by one.
PROBED_CALLS = ("prepare", "predict", "plotly_chart", "post_run_cleanup", "full_gc")


def summary(values: list[float]) -> dict:
    """Count, median, p95 and maximum of latencies in ms."""
    if not values:
        return {"n": 0}
    array = np.asarray(values, dtype=np.float64)
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(array, 50)), 1),
        "p95_ms": round(float(np.percentile(array, 95)), 1),
        "max_ms": round(float(array.max()), 1),
    }


def server_summary(events: list[dict], start: float, end: float) -> dict:
    """What the probe saw in the server between `start` and `end` (epoch seconds)."""
    inside = [e for e in events if start <= e.get("start", 0) <= end]

    def of(name: str) -> list[dict]:
        return [e for e in inside if e["event"] == name]

    runs = of("script_run")
    intervals = sorted((e["start"], e["start"] + e["wall_ms"] / 1000) for e in runs)
    most, ends = 0, []
    for begin, finish in intervals:  # the most script runs in flight at one moment
        ends = [t for t in ends if t > begin] + [finish]
        most = max(most, len(ends))
    wall = [e["wall_ms"] for e in runs]
    cpu = [e["cpu_ms"] for e in runs]
    result = {
        "script_runs": len(runs),
        "script_run_wall": summary(wall),
        "script_run_cpu": summary(cpu),
        "script_runs_in_flight_max": most,
        "script_runs_in_flight_mean": round(sum(wall) / 1000 / max(end - start, 1e-9), 2),
        "script_run_cpu_share_of_wall": round(sum(cpu) / max(sum(wall), 1e-9), 2),
    }
    for name in PROBED_CALLS:
        calls = of(name)
        result[name] = {
            "calls": len(calls),
            "wall": summary([e["wall_ms"] for e in calls]),
            "wall_total_s": round(sum(e["wall_ms"] for e in calls) / 1000, 2),
        }
        cpu = [e["cpu_ms"] for e in calls if e.get("cpu_ms") is not None]
        if cpu:
            result[name]["cpu"] = summary(cpu)
    return result


def goal(levels: list[dict]) -> dict:
    """Is the goal met? Judged only when both levels ran and drew strokes."""
    by_n = {level["sessions"]: level for level in levels if "skipped" not in level}
    base, busy = by_n.get(BASE_SESSIONS), by_n.get(GOAL_SESSIONS)
    if not (base and busy and base["stroke"]["n"] and busy["stroke"]["n"]):
        return {
            "judged": False,
            "why": f"needs levels {BASE_SESSIONS} and {GOAL_SESSIONS} with strokes",
        }

    def ratio(key: str, stat: str = "p95_ms") -> float | None:
        low, high = base.get(key, {}).get(stat), busy.get(key, {}).get(stat)
        return round(high / low, 2) if low and high else None

    judged = ratio("stroke")
    busy_to_base = f"{GOAL_SESSIONS}_to_{BASE_SESSIONS}"
    return {
        "judged": True,
        f"errors_at_{GOAL_SESSIONS}": busy["errors"],
        f"stroke_p95_ratio_{busy_to_base}": judged,
        "met": busy["errors"] == 0 and judged <= GOAL_P95_RATIO,
        # For the analysis: without each session's first stroke (its page's first charts), and
        # the server's own share (script runs, which wait for CPU when the browsers take it).
        f"stroke_after_first_p95_ratio_{busy_to_base}": ratio("stroke_after_first"),
        f"server_script_run_p95_ratio_{busy_to_base}": (
            round(
                busy["server"]["script_run_wall"]["p95_ms"]
                / base["server"]["script_run_wall"]["p95_ms"],
                2,
            )
            if "server" in base and "server" in busy
            else None
        ),
    }


def model_loads(events: list[dict]) -> dict:
    """How many server processes the probe saw, and how often they loaded the models."""
    loads = [e for e in events if e["event"] == "models_loaded"]
    ready = [e for e in events if e["event"] == "probe_ready"]
    problems = [e for e in events if e["event"] == "probe_error"]
    return {
        "what_if": sorted({name for e in ready for name in e.get("what_if", [])}),
        "probe_active": bool(ready) and not problems,
        "probe_errors": problems,
        "server_processes": len({e.get("pid") for e in ready}),
        "model_loads": len(loads),
        "loaded_once": len(loads) == 1,
        "load_seconds": [round(e["wall_ms"] / 1000, 2) for e in loads],
    }


def report(args, levels: list[dict], events: list[dict], active: dict, seconds: float) -> dict:
    """The whole report: the settings, the model loads, every level and the goal."""
    return {
        "config": {
            "sessions": args.sessions,
            "strokes_per_session": args.strokes_per_session,
            "min_strokes": args.min_strokes,
            "uploads_per_session": args.uploads_per_session,
            "think_s": args.think,
            "ramp_up_s": args.ramp_up,
            "browser_nice": args.browser_nice,
            "result_timeout_s": args.result_timeout,
            "seed": args.seed,
            "what_if": args.what_if,
            "active_runs": active,
            "cores": os.cpu_count(),
        },
        "models": model_loads(events),
        "levels": levels,
        "goal": goal(levels),
        "total_seconds": round(seconds, 1),
    }
