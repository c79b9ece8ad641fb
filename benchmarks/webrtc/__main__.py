"""`python -m benchmarks.webrtc`: see `benchmarks.webrtc.bench`."""

import sys

from benchmarks.webrtc.bench import main

sys.exit(main())
