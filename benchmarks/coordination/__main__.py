"""`python -m benchmarks.coordination`: see `benchmarks.coordination.fanout`."""

import sys

from benchmarks.coordination.fanout import main

sys.exit(main())
