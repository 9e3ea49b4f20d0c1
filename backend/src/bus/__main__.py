"""``python -m backend.src.bus feed|engines ...``: see :mod:`backend.src.bus.cli`."""

from .cli import main

raise SystemExit(main())
