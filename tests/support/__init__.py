"""Helpers shared by the tests and the benches: browser driving, digit pictures, sample files."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository root
