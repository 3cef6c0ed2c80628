"""``python -m audiocl`` is the same as the ``audiocl`` command."""

import sys

from audiocl.cli.main import main

sys.exit(main())
