"""Run the ``bufferkit`` command with ``python -m bufferkit``."""

import sys

from bufferkit.cli import main

sys.exit(main())
