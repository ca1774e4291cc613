"""`python -m devstack` (and `make serve`)."""

import sys

from .cli import main

sys.exit(main())
