"""`python -m benchmarks.voice`: see `benchmarks.voice.harness`."""

import sys

from benchmarks.voice.harness import main

sys.exit(main())
