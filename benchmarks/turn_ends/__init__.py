"""The end-of-turn decision judged offline at every pause, and the threshold sweep
(`python -m benchmarks.turn_ends`)."""
