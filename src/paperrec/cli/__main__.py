"""``python -m paperrec.cli``: the same as the ``paperrec`` console script."""

from paperrec.cli import main

main()
