"""Tests of the serving layer: decoding, ink finding, prediction, the detector, explanations."""
