"""Tests of the training layer: data, models, pipelines, training runs."""
