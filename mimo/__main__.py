"""`python -m mimo ...`: see mimo.cli."""

import sys

from mimo.cli import main

sys.exit(main())
