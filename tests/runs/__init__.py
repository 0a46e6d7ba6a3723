"""Tests of the run registry."""
