"""md as JSON Lines: what ``run --jsonl`` and ``replay --jsonl`` print, one md per line.

Why its own encoder: the line must hold the md schema's keys (``market_data.MD_FIELDS``) in
the schema's order, whatever else a dict carries, and be byte-for-byte the same for the same
md, so two replays of one recording can be compared with ``cmp`` and read by jq, pandas or
duckdb without this library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..market_data import MD_FIELDS


def md_json(md: Mapping[str, Any]) -> str:
    """One md as one JSON object (no newline), keys in schema order."""
    return orjson.dumps({key: md.get(key) for key in MD_FIELDS}).decode()
