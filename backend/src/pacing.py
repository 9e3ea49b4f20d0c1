"""``Pacer``: the instants at which timer-driven work changed what md say, noted and met again.

Why: a replay runs the production code on virtual time, where computation takes none. What a
websocket frame causes happens at the frame's recorded instant, as live. But work started by
a timer (the bar sweep, the feed monitor's stale marks, the timer wheel's expiries, universe
reloads) or finished a few loop iterations after its REST answer (a backfill's merge, behind a
``gather``) ran live as late as the busy loop let it, and the frames that arrived meanwhile
were handled first; in a replay it would run before them, and md around it would differ (a
rolling volume before or after a bar closed). So each such step awaits :meth:`Pacer.mark`
just before it changes state: live, a recording notes the instant and how many stream results
had been handed on (``MexcRuntime.yielded``); a replay takes the step at that instant, after
exactly that many results, and holds the next result back until it has (:meth:`Pacer.holds`).
An instant alone is not enough: a frame handled just before a step live may become md just
after it (its stream's task runs an iteration later), and a replay, where nothing takes time,
would turn it into md first.
"""

from __future__ import annotations

from collections.abc import Callable


class Pacer:
    """Live without a recording: nothing to note, nothing to wait for."""

    async def mark(self, name: str) -> None:
        """The step ``name`` (one sequence per name) is about to change state."""

    def holds(self, yielded: int) -> bool:
        """Whether the next stream result (``yielded`` handed on so far) must wait for a step."""
        return False

    async def release(self, yielded: int) -> None:
        """Wait until the next stream result may go on (only called when :meth:`holds`)."""


class NotingPacer(Pacer):
    """Live while recording: each mark is handed to ``note`` (the recorder) with its name and
    the number of stream results handed on so far (``yielded()``)."""

    def __init__(self, note: Callable[[str, int], None], yielded: Callable[[], int]) -> None:
        self._note = note
        self._yielded = yielded

    async def mark(self, name: str) -> None:
        self._note(name, self._yielded())
