"""The model engines: loaded once per process and shared by every session.

An engine holds the model; a session holds only its own small state (a VAD
stream, a turn's audio), so an idle device costs almost nothing.
"""
