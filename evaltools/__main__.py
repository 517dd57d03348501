"""``python -m evaltools``: the ``evaltools`` command without its console script."""

import sys

from evaltools.cli import main

sys.exit(main())
