"""``python -m causality``: the same as the ``causality`` command."""

from causality.cli import main

main()
