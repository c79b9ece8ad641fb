"""REST control plane throughput and latency under `wrk` (`python -m benchmarks.rest`)."""
