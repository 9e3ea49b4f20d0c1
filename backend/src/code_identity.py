"""Which code this process runs: ccxt's version and a hash of the library's own sources.

Why: a session replay is exact only on the code that recorded it (the same requests, the same
parsing; docs/RECORDING.md), and a benchmark figure means something only next to the code it
measured. Both stamp this identity, and a replay warns when it differs from the recording's.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import ccxt

#: the library's sources: every module under ``backend/src``
SOURCES = Path(__file__).resolve().parent


def source_hash(root: Path = SOURCES) -> str:
    """A short hash of every ``.py`` file under ``root`` as it is on disk now (path and bytes)."""
    digest = hashlib.sha1()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root.parent.parent)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@functools.cache
def code_identity() -> dict[str, str]:
    """``{"ccxt": version, "source": source_hash()}`` of this process (computed once: ~100
    files, a few ms)."""
    return {"ccxt": str(ccxt.__version__), "source": source_hash()}
