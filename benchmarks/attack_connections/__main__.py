"""`python -m benchmarks.attack_connections`: see `benchmarks.attack_connections.measure`."""

import sys

from benchmarks.attack_connections.measure import main

sys.exit(main())
