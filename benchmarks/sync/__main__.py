"""`python -m benchmarks.sync`: see `benchmarks.sync.skew`."""

import sys

from benchmarks.sync.skew import main

sys.exit(main())
