"""``python -m jaxmusic.cli``: the ``jaxmusic`` command."""

from . import run

run()
