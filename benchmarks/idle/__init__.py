"""Device capacity: CPU and memory with many connected devices, silent or talking
(`python -m benchmarks.idle`)."""
