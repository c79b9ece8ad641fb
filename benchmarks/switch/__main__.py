"""`python -m benchmarks.switch`: see `benchmarks.switch.latency`."""

import sys

from benchmarks.switch.latency import main

sys.exit(main())
