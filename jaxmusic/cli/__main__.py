"""``python -m jaxmusic.cli``: the ``jaxmusic`` command."""

import sys

from . import main

sys.exit(main())
