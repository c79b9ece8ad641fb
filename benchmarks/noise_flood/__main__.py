"""`python -m benchmarks.noise_flood`: see `benchmarks.noise_flood.flood`."""

import sys

from benchmarks.noise_flood.flood import main

sys.exit(main())
