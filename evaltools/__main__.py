"""``python -m evaltools``: the ``evaltools`` command without its console script."""

import sys

from evaltools.cli._main import main

sys.exit(main())
