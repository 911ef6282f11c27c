"""``python -m evosym``: the same as the ``evosym`` command."""

import sys

from .cli.main import main

sys.exit(main())
