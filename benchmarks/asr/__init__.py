"""Whisper alone: inference time (`python -m benchmarks.asr.latency`) and models side by side
(`python -m benchmarks.asr.models`)."""
