"""Serving: decode any input, find the digit, predict, explain."""
