"""`python -m benchmarks.conversations`: see `benchmarks.conversations.capacity`."""

import sys

from benchmarks.conversations.capacity import main

sys.exit(main())
