"""Fault schedules for smoke runs: when to break the (simulated) exchange, and how.

Pure parsing and arithmetic. A schedule is a comma-separated list of ``KIND@AT[:FOR]`` items,
e.g. ``drop@5m,close@12m,silence@17m:20s,refuse@22m:30s``, or ``drop/5m`` for every 5 minutes.
Kinds: ``drop`` (TCP reset without a close frame), ``close`` (clean websocket close),
``silence`` (connections stay up and answer pings but push nothing, for FOR), ``nopong``
(pings unanswered, for FOR), ``refuse`` (new and existing connections refused, for FOR),
``malformed`` (one garbage frame), ``jump`` (a 5 % price jump).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UsageError

KINDS = ("drop", "close", "silence", "nopong", "refuse", "malformed", "jump")
#: Faults during which the exchange itself is unavailable: the downtime they cause is the
#: exchange's, not the feed's (reported separately), and recovery is timed from their end.
EXCHANGE_OUTAGES = ("silence", "nopong", "refuse")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str) -> float:
    """``"30m"`` → 1800.0 seconds; plain numbers are seconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise UsageError(f"not a duration: {text!r} (use e.g. 90s, 30m, 24h)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


@dataclass(frozen=True, order=True)
class FaultEvent:
    at_s: float
    kind: str
    for_s: float = 0.0

    @property
    def healthy_at_s(self) -> float:
        """When the exchange is healthy again: recovery is timed from here."""
        return self.at_s + self.for_s


def parse_schedule(text: str, run_s: float) -> list[FaultEvent]:
    """Events within ``run_s``, sorted by time."""
    events: list[FaultEvent] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, sep, rest = item.partition("/") if "/" in item else item.partition("@")
        if kind not in KINDS or not sep:
            raise UsageError(f"bad fault {item!r}: use KIND@AT[:FOR] or KIND/EVERY with KIND in {KINDS}")
        when, _, length = rest.partition(":")
        for_s = parse_duration(length) if length else (30.0 if kind in EXCHANGE_OUTAGES else 0.0)
        if sep == "/":
            every = parse_duration(when)
            if every <= 0:
                raise UsageError(f"bad fault {item!r}: the repeat interval must be positive")
            events += [FaultEvent(k * every, kind, for_s) for k in range(1, int(run_s // every) + 1)]
        else:
            events.append(FaultEvent(parse_duration(when), kind, for_s))
    return sorted(e for e in events if e.at_s < run_s)


def default_schedule(run_s: float) -> str:
    """The Epic's acceptance run, scaled to ``run_s``: the run is cut into six slots with a TCP
    drop in the middle of each (every 5 min in a 30 min run), one clean close, one
    silent-but-ponging episode (20 s) and one 30 s refusal of connections, each placed between
    two drops so that faults never overlap (outages shrink to fit very short runs)."""
    slot = run_s / 6
    events = [f"drop@{(k + 0.5) * slot:.3f}s" for k in range(6)]
    events.append(f"close@{1.8 * slot:.3f}s")
    events.append(f"silence@{2.7 * slot:.3f}s:{min(20.0, 0.25 * slot):.3f}s")
    events.append(f"refuse@{4.6 * slot:.3f}s:{min(30.0, 0.3 * slot):.3f}s")
    return ",".join(events)
