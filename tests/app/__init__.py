"""Tests of the app: pages through AppTest and a real browser, jobs, plots."""
