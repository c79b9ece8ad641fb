"""`python -m benchmarks.trivia`: see `benchmarks.trivia.skew`."""

import sys

from benchmarks.trivia.skew import main

sys.exit(main())
