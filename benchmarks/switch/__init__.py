"""Persona switch on a live device, from the REST call to the first audio in the new voice
(`python -m benchmarks.switch`)."""
