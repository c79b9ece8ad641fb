"""Micro-benchmarks (pytest-benchmark) of the server's hot paths, outside the default test run.

    .venv/bin/python -m pytest benchmarks/micro --benchmark-json benchmarks/results/micro.json -q

See benchmarks/README.md, "Micro-benchmarks", for what each one measures.
"""
