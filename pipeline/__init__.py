"""The audio graph and the model engines behind it.

Knows nothing of HTTP, Redis or the environment: every engine takes its
configuration as explicit arguments.
"""
