"""``python -m bpnn``: the same as the ``bpnn`` command."""

import sys

from .cli import main

sys.exit(main())
