"""Session changes (start, handoff, end) on live devices, to their application in the live loop
(`python -m benchmarks.live_changes`)."""
