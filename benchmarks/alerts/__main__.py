"""`python -m benchmarks.alerts`: see `benchmarks.alerts.measure`."""

import sys

from benchmarks.alerts.measure import main

sys.exit(main())
