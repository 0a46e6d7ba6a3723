"""Training: data sources, input pipelines, evaluation, one training run top to bottom."""
