"""The test suite; a package so that tests and benches import helpers from tests.support."""
