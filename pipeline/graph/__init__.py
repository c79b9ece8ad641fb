"""The per-device audio graph, built from pipecat FrameProcessors (see ARCHITECTURE.md)."""
