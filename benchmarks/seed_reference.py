"""The Epic's seed gap filler: the oracle of the gap-filler tests and the benchmark baseline.

Kept as the seed wrote it, with one change: the 60 000 ms step is a parameter (default: the
seed's), so the same loop is the oracle for every timeframe.
"""

from __future__ import annotations

from functools import partial


def seed_fill(ohlcv, step=60_000):  # type: ignore[no-untyped-def]
    if not ohlcv:
        return ohlcv
    filled = []
    i = 0
    cur = ohlcv[0]
    while i < len(ohlcv) - 1:
        nxt = ohlcv[i + 1]
        filled.append(cur)
        dt = nxt[0] - cur[0]
        if dt > step:
            steps = dt // step - 1
            for s in range(int(steps)):
                ts = cur[0] + step * (s + 1)
                o = h = l = c = cur[4]  # noqa: E741
                v = 0.0
                filled.append([ts, o, h, l, c, v])
        cur = nxt
        i += 1
    filled.append(ohlcv[-1])
    return filled


#: the seed exactly: one-minute steps.
seed_fill_minute_bars = partial(seed_fill, step=60_000)
