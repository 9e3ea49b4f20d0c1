"""``python -m backend``: see :mod:`backend.cli`."""

from .cli import main

raise SystemExit(main())
