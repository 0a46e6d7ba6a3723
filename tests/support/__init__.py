"""Helpers shared by the tests and the benches: browser driving, digit pictures, sample files."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository root
# Shipped runs that tests of the run views and the Dashboards treat as active: 40 epochs of the
# full recipe from scratch, trained before gradient agreement and the learning rate were
# recorded (the active runs change as better ones are trained).
FULL_RECIPE_RUNS = ("color-20261202-123307-a301c5", "sum-20261202-133126-d4fe51")
