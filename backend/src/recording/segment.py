"""``SegmentWriter``: records appended on the event loop, written by a thread, rotated by time.

Why a thread: encoding, compressing and writing a second of a busy feed costs milliseconds;
on the event loop that would be latency for every md. The loop only appends a tuple to a
deque (thread-safe, ~0.1 µs); every ``flush_s`` (or sooner once ``wake_bytes`` are queued) the
thread encodes what is queued as JSON Lines, compresses it into one zstd frame and appends
that frame with one ``write``. So a ``kill -9`` loses at most the last ``flush_s`` and never
corrupts what was written before.

Bounded: at most ``max_pending_bytes`` may wait for the thread (a full disk, a stalled
filesystem); past that, records are dropped and counted, and the next frame written starts
with a ``gap`` record, so a replay knows it is not exact there. A write error is counted and
logged, never raised to the stream: market data matters more than its recording.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from ..code_identity import code_identity
from ..log_limits import RateLimitedLog
from .format import EVENT, FORMAT, RX, SUFFIX, VERSION, encode_event, encode_rx, index_frame

log = logging.getLogger(__name__)

#: bytes a queued item is charged beyond its payload (tuple, timestamps, line overhead)
_ITEM_COST = 96
#: the writer thread lets the event loop's thread take the GIL after this many records: a
#: second of a busy feed is ~10 k records, which would otherwise hold it for milliseconds;
#: 32 records (~40 µs of encoding) is the longest a frame waits for the writer.
_YIELD_EVERY = 32


@dataclass(frozen=True)
class WriterConfig:
    """How a writer flushes, rotates, compresses and bounds its memory."""

    #: a new segment file starts every this many seconds, aligned to the epoch (hourly).
    rotate_s: float = 3600.0
    #: the longest a record waits in memory: what ``kill -9`` can lose.
    flush_s: float = 1.0
    #: queued bytes past which records are dropped (and counted) instead of queued.
    max_pending_bytes: int = 64 << 20
    #: queued bytes that wake the thread before ``flush_s`` (keeps frames and latency small).
    wake_bytes: int = 4 << 20
    #: zstd level: 3 is zstd's default (docs/BENCHMARKS.md, "Recording", compares levels).
    level: int = 3


def _cost(item: tuple[Any, ...]) -> int:
    """Memory charged for a queued item: its payload's length plus a fixed overhead."""
    return len(item[3]) + _ITEM_COST if item[0] == RX else 4 * _ITEM_COST


class SegmentWriter:
    """Append-only zstd segments ``<session>.<n>.rec.zst`` in ``directory`` (see module doc)."""

    def __init__(
        self, directory: str | os.PathLike[str], session: str, config: WriterConfig | None = None
    ) -> None:
        self.directory = Path(directory)
        self.session = session
        self.config = config or WriterConfig()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._queued = 0  # bytes charged by the loop thread (only it writes this)
        self._taken = 0  # bytes taken off the queue by the writer thread (only it writes this)
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._cctx = zstandard.ZstdCompressor(level=self.config.level, write_checksum=True)
        self._fd: int | None = None
        self._segment_slot: int | None = None
        #: records lost to write errors, and lost records already announced by a ``gap``
        self._lost_writing = 0
        self._announced = 0
        self._drop_log = RateLimitedLog(log)
        self._error_log = RateLimitedLog(log, level=logging.ERROR)
        self.records = 0
        self.dropped = 0
        self.unencodable = 0
        self.write_errors = 0
        self.raw_bytes = 0
        self.written_bytes = 0
        self.segments: list[Path] = []
        self._thread = threading.Thread(target=self._run, name=f"recording-{session}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ event loop side
    def rx(self, t: int, conn: int, data: bytes | bytearray | str, drained: bool) -> None:
        """Queue one websocket frame: the hot path, so :meth:`append` inlined, no encoding."""
        cost = len(data) + _ITEM_COST
        pending = self._queued - self._taken
        if pending + cost > self.config.max_pending_bytes:
            self._drop(pending)
            return
        self._queue.append((RX, t, conn, data, drained))
        self._queued += cost
        if pending < self.config.wake_bytes <= pending + cost:
            self._wake.set()

    def event(self, kind: str, t: int, body: dict[str, Any]) -> None:
        """Queue any other record."""
        self.append((EVENT, t, kind, body))

    def append(self, item: tuple[Any, ...]) -> None:
        cost = _cost(item)
        pending = self._queued - self._taken
        if pending + cost > self.config.max_pending_bytes:
            self._drop(pending)
            return
        self._queue.append(item)
        self._queued += cost
        if pending < self.config.wake_bytes <= pending + cost:
            self._wake.set()

    def _drop(self, pending: int) -> None:
        self.dropped += 1
        self._drop_log.event(
            "recording %s: %d bytes wait for the disk; record dropped (%d so far)",
            self.session,
            pending,
            self.dropped,
        )

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(self.config.flush_s)
            self._wake.clear()
            self._flush()
        self._flush()
        self._close_segment()

    def _flush(self) -> None:
        """Encode, compress and append everything queued as one frame."""
        lines: list[bytes] = []
        queue, taken = self._queue, 0
        while queue:
            if len(lines) % _YIELD_EVERY == _YIELD_EVERY - 1:
                time.sleep(0)  # releases the GIL: the event loop's thread goes first
            item = queue.popleft()
            taken += _cost(item)
            try:
                lines.append(
                    encode_rx(*item[1:]) if item[0] == RX else encode_event(item[2], item[1], item[3])
                )
            except (TypeError, ValueError) as exc:  # a value no JSON holds: that record only
                self.unencodable += 1
                self._error_log.event(
                    "recording %s: record not encodable (%s): %.200r", self.session, exc, item
                )
        self._taken += taken
        # what the loop thread dropped since the last frame; read once, subtracted once
        lost = self.dropped + self._lost_writing - self._announced
        if lost:
            lines.insert(0, encode_event("gap", time.time_ns(), {"lost": lost}))
        if not lines:
            return
        data = b"".join(lines)
        frame = self._cctx.compress(data)
        try:
            self._append_frame(frame)
        except OSError as exc:
            self.write_errors += 1
            self._lost_writing += len(lines) - (1 if lost else 0)
            self._error_log.event(
                "recording %s: write failed (%s); %d records lost, the stream goes on",
                self.session,
                exc,
                len(lines),
            )
            self._close_segment()
            return
        self._announced += lost
        self.records += len(lines)
        self.raw_bytes += len(data)
        self.written_bytes += len(frame) + len(index_frame(0))

    def _append_frame(self, frame: bytes) -> None:
        """Append one compressed frame, behind its index, to the current segment."""
        self._ensure_segment()
        assert self._fd is not None
        os.write(self._fd, index_frame(len(frame)) + frame)

    def _ensure_segment(self) -> None:
        """Open the segment of the current rotation slot, with its header as first frame."""
        slot = int(time.time() // self.config.rotate_s)
        if self._fd is not None and slot == self._segment_slot:
            return
        self._close_segment()
        path = self.directory / f"{self.session}.{len(self.segments):05d}{SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._segment_slot = slot
        self.segments.append(path)
        header = {"format": FORMAT, "version": VERSION, "session": self.session, "code": code_identity()}
        header |= {"segment": len(self.segments) - 1, "pid": os.getpid()}
        head = self._cctx.compress(encode_event("header", time.time_ns(), header))
        os.write(self._fd, index_frame(len(head)) + head)

    def _close_segment(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        except OSError as exc:
            self._error_log.event("recording %s: fsync failed: %s", self.session, exc)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ lifecycle
    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, close the segment; blocking (call it off the event loop)."""
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("recording %s: writer did not finish in %.0fs", self.session, timeout)

    def stats(self) -> dict[str, Any]:
        """Plain counters: what was written, dropped (memory bound) and lost (write errors)."""
        return {
            "directory": str(self.directory),
            "session": self.session,
            "segments": len(self.segments),
            "records": self.records,
            "dropped": self.dropped,
            "unencodable": self.unencodable,
            "write_errors": self.write_errors,
            "raw_bytes": self.raw_bytes,
            "written_bytes": self.written_bytes,
            "pending_bytes": self._queued - self._taken,
        }
