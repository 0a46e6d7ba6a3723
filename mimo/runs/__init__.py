"""Runs: the registry of trained runs, their files, and a run's view for dashboards."""
