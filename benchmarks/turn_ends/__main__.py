"""`python -m benchmarks.turn_ends`: see `benchmarks.turn_ends.measure`."""

import sys

from benchmarks.turn_ends.measure import main

sys.exit(main())
