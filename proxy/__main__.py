"""``python -m proxy`` is ``pipgate``."""

import sys

from proxy.cli import main

sys.exit(main())
