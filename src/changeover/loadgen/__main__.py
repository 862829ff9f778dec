"""Entry point for `python -m changeover.loadgen`."""

import sys

from changeover.loadgen.cli import main

sys.exit(main())
