"""``Jitter``: a stream's own reproducible random fractions, one integer of state.

Why not the ``random`` module: a draw from one shared generator depends on how many draws
every other stream made before it, i.e. on the exact interleaving of thousands of streams on
the event loop, which a busy loop never repeats. A replay of a recorded session must draw the
same fraction for the same stream at the same point (the quiet-market check falls due at
``step * (1 - spread * fraction)``, a reconnect waits a drawn backoff), so each stream
draws from its own sequence, derived from the session's seed and the stream's name. Why
not a ``random.Random`` per stream: ~5 KB of state each, 30 MB for the 6000 streams of the
whole universe; this is one ``int``.

The sequence is SplitMix64 (Steele, Lea, Flood 2014; the seeding generator of
``xoshiro``): a 64-bit counter stepped by the golden-ratio increment and mixed, good enough
to spread timers and nothing cryptographic.
"""

from __future__ import annotations

import hashlib

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


class Jitter:
    """Fractions in ``[0, 1)``, the same sequence for the same ``(seed, name)`` in every run."""

    __slots__ = ("_state",)

    def __init__(self, seed: int, name: str) -> None:
        digest = hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=8).digest()
        self._state = int.from_bytes(digest, "little")

    def random(self) -> float:
        """The next fraction, uniform in ``[0, 1)`` with 53 bits (as ``random.random``)."""
        self._state = state = (self._state + _GOLDEN) & _MASK
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return ((z ^ (z >> 31)) >> 11) / 9007199254740992.0

    def uniform(self, a: float, b: float) -> float:
        """A fraction of the way from ``a`` to ``b`` (as ``random.uniform``): a backoff's delay."""
        return a + (b - a) * self.random()
