"""`python -m smartdoor_door` is `smartdoor-door`."""

import sys

from smartdoor_door.cli import main

sys.exit(main())
