"""Per-question skew of a trivia game (issue 14): `python -m benchmarks.trivia`."""
