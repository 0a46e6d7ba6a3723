"""The mimo app: `streamlit run app.py`.

This file only declares the navigation and tunes the server process once at start; the pages
live in app_pages/ (predict.py is the landing page, dashboards.py, my_digits.py, retrain.py)
and call `mimo`. The folder is not named pages/: Streamlit would take that for its older
multipage layout on a fresh server's first visit, and answer a page's URL with "Page not found".
"""

from __future__ import annotations

import contextlib

import streamlit as st

from mimo.app.process_tuning import tune_server_process
from mimo.app.support import start_warming


def main() -> None:
    """Predict is the landing page; every page is a script in app_pages/. The navigation runs along
    the top, so the pages keep the whole width of a laptop's screen. URL paths are lower case:
    Streamlit lowercases them, and a typed URL must match in case or it says "Page not found"."""
    st.navigation(
        [
            st.Page(
                "app_pages/predict.py",
                title="Predict",
                icon=":material/draw:",
                url_path="predict",
                default=True,
            ),
            st.Page(
                "app_pages/dashboards.py",
                title="Dashboards",
                icon=":material/monitoring:",
                url_path="dashboards",
            ),
            st.Page(
                "app_pages/my_digits.py",
                title="My digits",
                icon=":material/collections:",
                url_path="my-digits",
            ),
            st.Page(
                "app_pages/retrain.py",
                title="Retrain",
                icon=":material/model_training:",
                url_path="retrain",
            ),
        ],
        position="top",
    ).run()


@contextlib.asynccontextmanager
async def warm_start(_app):
    """Runs once when the server starts: load and trace both models before the first visitor."""
    tune_server_process()
    start_warming()
    yield


if __name__ == "__main__":  # each session's script run
    main()
else:  # `streamlit run app.py` imports this module once, to start the server
    app = st.App(__file__, lifespan=warm_start)
