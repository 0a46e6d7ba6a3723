"""Reading st.plotly_chart's selection events: the points a click selected, and the customdata
each carries (what the figure put there to say which cell or example a point is)."""

from __future__ import annotations


def selected_points(event) -> list:
    """The selected points of an event (the chart's return value or its session-state value);
    [] when there is none."""
    try:
        return list(event["selection"]["points"] or ())
    except (KeyError, TypeError):
        return []


def custom_values(point) -> list:
    """A selected point's customdata as a list. Plotly sends a list for a list, a typed array's
    row as {"0": value, ...} (a figure given numpy arrays), or a lone value."""
    data = point.get("customdata") if hasattr(point, "get") else None
    if isinstance(data, dict):
        return [data[k] for k in sorted(data, key=lambda k: int(k)) if str(k).isdigit()]
    if isinstance(data, (list, tuple)):
        return list(data)
    if isinstance(data, (int, float)):
        return [data]
    return []
