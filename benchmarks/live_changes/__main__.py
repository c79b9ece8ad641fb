"""`python -m benchmarks.live_changes`: see `benchmarks.live_changes.changes`."""

import sys

from benchmarks.live_changes.changes import main

sys.exit(main())
