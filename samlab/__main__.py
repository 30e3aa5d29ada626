"""``python -m samlab ...``: see :mod:`samlab.cli`."""
from samlab.cli import main

raise SystemExit(main())
