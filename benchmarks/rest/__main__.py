"""`python -m benchmarks.rest`: see `benchmarks.rest.load`."""

import sys

from benchmarks.rest.load import main

sys.exit(main())
