"""Helpers the tests share: real services started for the test run."""
