"""`python -m benchmarks.gc_stall`: see `benchmarks.gc_stall.measure`."""

import sys

from benchmarks.gc_stall.measure import main

sys.exit(main())
