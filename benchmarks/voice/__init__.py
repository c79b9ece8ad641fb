"""Voice-to-voice on one or a few conversations: end of the user's speech to the reply's first audio at
the device (`python -m benchmarks.voice`)."""
