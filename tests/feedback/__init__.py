"""Tests of mimo.feedback: the store of collected digits, its policy and its uses."""
