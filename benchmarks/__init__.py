"""Load benchmarks: run by hand (`python -m benchmarks.<name>`), never by the default test run."""
