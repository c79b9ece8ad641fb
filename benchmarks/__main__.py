"""`python -m benchmarks`: every benchmark, then the plots and `REPORT.md` (see `benchmarks.run_all`)."""

import sys

from benchmarks.run_all import main

sys.exit(main())
