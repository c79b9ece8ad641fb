"""`python -m benchmarks.idle`: see `benchmarks.idle.capacity`."""

import sys

from benchmarks.idle.capacity import main

sys.exit(main())
