"""Streamlit-only support: caches, process tuning, jobs, access, formatting, plots."""
