"""The Dashboards page's multi-task lab, in the `task-balance` container: the selected runs'
digit accuracy with a 95% bootstrap interval over their test sets, their gradient agreement per
epoch (or a note for runs that did not record it), and "Multi-task vs single-task": a run with
the other head switched off beside its multi-task partner (mimo.runs.balance.find_pair), with
their intervals, the interval of the difference, their agreement curves and the example diff.
Without such a pair it says which command trains the missing run.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from mimo.app.examples_ui import diff_grids_ui
from mimo.app.plots.balance import agreement_figure, interval_figure
from mimo.app.run_data import examples_key, figure, read_config, run_agreement, run_examples
from mimo.runs import artifacts, balance
from mimo.runs import examples as per_example
from mimo.runs import weights as loss_weights
from mimo.runs.registry import Registry
from mimo.runs.view import percent

BALANCE_KEY = "task-balance"  # the container, for the page's checks


def task_balance_ui(registry: Registry, model: str, run_id: str, run_ids: Sequence[str]):
    with st.container(key=BALANCE_KEY):
        st.caption(
            "Does the second task help the digit, hurt it, or fight it? The digit accuracy of "
            "each selected run with its 95% bootstrap interval over its test set, and how the "
            "two heads' gradients pull the shared trunk, epoch by epoch."
        )
        shown = list(run_ids) or [run_id]
        _intervals_ui(registry, shown, "balance_accuracy", "Digit accuracy of the selected runs")
        _agreement_ui(registry, shown, "balance_agreement")
        st.markdown("**Multi-task vs single-task**")
        _pair_ui(registry, model, run_id)


def _intervals_ui(registry: Registry, run_ids: Sequence[str], key: str, title: str) -> dict:
    """The interval chart of the runs that have per-example predictions; returns them."""
    found, missing = {}, []
    for rid in run_ids:
        examples, problem = run_examples(registry, rid)
        if examples is None:
            missing.append(f"{rid} ({problem})")
        else:
            found[rid] = examples
    if missing:
        st.caption(f"No per-example predictions, so no interval, for: {'; '.join(missing)}.")
    if not found:
        return found
    keys = tuple(examples_key(registry, r) for r in found)
    fig = figure(
        ("digit intervals", keys, title),
        lambda: interval_figure(
            {r: balance.accuracy_interval(e.right(e.heads[:1])) for r, e in found.items()}, title
        ),
    )
    st.plotly_chart(fig, width="stretch", key=key)
    return found


def _agreement_ui(registry: Registry, run_ids: Sequence[str], key: str) -> None:
    records, without = {}, []
    for rid in run_ids:
        record, problem = run_agreement(registry, rid)
        if record is None:
            without.append(f"{rid}: {problem}")
        else:
            records[rid] = record
    if not records:
        st.info(
            f"No gradient agreement to plot: {'; '.join(without)}. Runs trained from now on "
            "record it once per epoch."
        )
        return
    for line in without:
        st.caption(f"No gradient agreement for {line}.")
    st.plotly_chart(agreement_figure(records), width="stretch", key=key)
    st.caption(
        "Measured once per epoch on a fixed batch of validation digits: each head's own loss "
        "differentiated with respect to the shared trunk's weights. A cosine near 0 means the "
        "tasks pull the shared features independently; below 0, against each other. A head "
        "switched off (loss weight 0) is still measured: how it would have pulled."
    )


def _pair_ui(registry: Registry, model: str, run_id: str) -> None:
    runs = registry.list_runs(model)
    configs = {r.run_id: read_config(r.path) for r in runs}
    pair = balance.find_pair(model, configs)
    if pair is None:
        _no_pair_ui(registry, model, run_id, configs.get(run_id))
        return
    st.caption(
        f"Single-task: {pair.single} (loss weights "
        f"{loss_weights.words(loss_weights.of_config(model, configs[pair.single]))}). "
        f"Multi-task: {pair.multi} (loss weights "
        f"{loss_weights.words(loss_weights.of_config(model, configs[pair.multi]))}). "
        "Every other setting is the same."
    )
    found = _intervals_ui(
        registry, [pair.single, pair.multi], "balance_pair_accuracy", "Single-task vs multi-task"
    )
    if len(found) == 2:
        single, multi = found[pair.single], found[pair.multi]
        _difference_ui(single, multi)
        _pair_diff_ui(registry, pair, single, multi)
    _agreement_ui(registry, [pair.single, pair.multi], "balance_pair_agreement")


def _difference_ui(single, multi) -> None:
    try:
        gap = balance.difference_interval(
            single.right(single.heads[:1]), multi.right(multi.heads[:1])
        )
    except ValueError:
        st.info("The two runs were tested on different test sets: no paired difference.")
        return
    verdict = (
        "helps the digit"
        if gap.low > 0
        else "hurts the digit"
        if gap.high < 0
        else "makes no difference to the digit that this test set can tell"
    )
    st.metric(
        "Digit accuracy, multi-task minus single-task",
        f"{gap.value * 100:+.2f} points",
        f"95% interval {gap.low * 100:+.2f} to {gap.high * 100:+.2f} points",
        delta_color="off",
        delta_arrow="off",
    )
    st.caption(
        f"On these {gap.n:,} test digits, the second task {verdict} "
        f"(single-task {percent(single.right(single.heads[:1]).mean())}, multi-task "
        f"{percent(multi.right(multi.heads[:1]).mean())}; paired bootstrap)."
    )


def _pair_diff_ui(registry: Registry, pair, single, multi) -> None:
    """Which test digits the multi-task run fixed and broke, judged on the digit head alone
    (the single-task run's other head was never trained)."""
    try:
        diff = per_example.diff(single, multi, heads=single.heads[:1])
    except ValueError as exc:
        st.info(f"No example-level diff: {exc}.")
        return
    st.caption(
        f"Digit by digit: the multi-task run fixed {len(diff.fixed):,} of the single-task "
        f"run's digit mistakes and broke {len(diff.broken):,} (net {diff.net:+,}). A is the "
        "single-task run, B the multi-task run: the grids show B's answers; hover for A's."
    )
    keys = tuple(examples_key(registry, r) for r in (pair.single, pair.multi))
    empty = {
        "fixed": "The multi-task run fixed none of the single-task run's mistakes.",
        "broken": "The multi-task run broke nothing the single-task run got right.",
    }
    diff_grids_ui(diff, single, multi, keys, "balance_diff", empty)


def _no_pair_ui(registry: Registry, model: str, run_id: str, config) -> None:
    weights = balance.partner_weights(model, config)
    command = balance.train_command(registry.runs_dir / run_id / artifacts.CONFIG, weights)
    missing = "single-task baseline" if loss_weights.heads_off(weights) else "multi-task run"
    st.info(
        f"No pair of {model} runs answers this yet: it needs a run with the other head's loss "
        "weight 0 and one with it above 0, every other setting the same. To train the "
        f"{missing} that goes with {run_id}, run:"
    )
    st.code(command, language="bash")
