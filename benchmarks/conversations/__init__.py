"""How many simultaneous conversations keep voice-to-voice p95 within 1.5 s
(`python -m benchmarks.conversations`)."""
