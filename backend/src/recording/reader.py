"""``RecordingReader``: the records of one recorded session, in order, whatever the files hold.

Why so defensive: a recording is untrusted input (a crash mid-write, a disk error, a file
edited by hand, a file from another version of this library). Every segment must start with a
header of this format and version, or the whole session is refused with
:class:`RecordingVersionError`; a corrupt frame, a truncated tail or an unreadable line is
counted in :attr:`RecordingReader.stats`, logged once, and skipped — never a traceback, never
a hang. Segments are read frame by frame, so memory stays at one frame (≤ one flush).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import zstandard

from ..code_identity import code_identity
from ..errors import RecordingNotFoundError, RecordingVersionError
from .format import FORMAT, INDEX, INDEX_MAGIC, INDEX_PREFIX, SUFFIX, VERSION

log = logging.getLogger(__name__)

#: a data frame longer than this is a corrupt index (the writer's frames hold ≤ 1 s of data)
MAX_FRAME = 1 << 30
_CHUNK = 1 << 20


@dataclass
class ReadStats:
    """What the reader met and skipped."""

    segments: int = 0
    frames: int = 0
    records: int = 0
    corrupt_frames: int = 0
    truncated: int = 0
    bad_lines: int = 0


def sessions(directory: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """session → its segment files in order, for every recording in ``directory``."""
    found: dict[str, list[Path]] = {}
    for path in sorted(Path(directory).glob(f"*{SUFFIX}")):
        found.setdefault(path.name.split(".", 1)[0], []).append(path)
    return found


def choose_session(directory: str | os.PathLike[str], session: str | None = None) -> tuple[str, list[Path]]:
    """The segments of ``session``, or of the newest session in ``directory`` when None."""
    found = sessions(directory)
    if not found:
        raise RecordingNotFoundError(f"no recording in {directory} (no *{SUFFIX} files)")
    if session is None:
        session = max(found)  # names start with the UTC start time
        if len(found) > 1:
            log.info("%s holds %d sessions; replaying the newest, %s", directory, len(found), session)
    elif session not in found:
        raise RecordingNotFoundError(f"no session {session!r} in {directory}; there are: {sorted(found)}")
    return session, found[session]


class RecordingReader:
    """Iterates the records of one session (see the module doc)."""

    def __init__(self, directory: str | os.PathLike[str], session: str | None = None) -> None:
        self.session, self.paths = choose_session(directory, session)
        self.stats = ReadStats()
        #: the code identity in the first header read (``code_identity``); None before
        self.recorded_code: dict[str, Any] | None = None
        self._dctx = zstandard.ZstdDecompressor()

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record after the segment headers, checked to have a ``type`` and a ``t``."""
        for path in self.paths:
            self.stats.segments += 1
            first = True
            for data in self.frames(path):
                for line in data.split(b"\n"):
                    if not line:
                        continue
                    record = self._parse(path, line)
                    if record is None:
                        continue
                    if first:
                        first = False
                        if record["type"] == "header":
                            self._check_header(path, record)
                            continue
                        log.warning("%s: no header frame (corrupt?); reading on", path.name)
                    self.stats.records += 1
                    yield record

    def _parse(self, path: Path, line: bytes) -> dict[str, Any] | None:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("type"), str)
            or not isinstance(record.get("t"), int)
        ):
            self.stats.bad_lines += 1
            if self.stats.bad_lines <= 3:
                log.warning("%s: unreadable record skipped: %.120r", path.name, line)
            return None
        return record

    def _check_header(self, path: Path, header: dict[str, Any]) -> None:
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise RecordingVersionError(
                f"{path.name} is format {header.get('format')!r} version {header.get('version')!r}; "
                f"this library reads {FORMAT!r} version {VERSION} only"
            )
        recorded, running = header.get("code"), code_identity()
        if recorded != running and self.recorded_code is None:
            log.warning(
                "%s was recorded by other code (%s) than this replay runs (%s): a replay is exact "
                "only on the code that recorded it; requests it makes differently go unanswered "
                "and are counted as unmatched",
                path.name,
                recorded,
                running,
            )
        self.recorded_code = recorded if isinstance(recorded, dict) else {}

    def frames(self, path: Path) -> Iterator[bytes]:
        """The decompressed data frames of one segment; corrupt ones skipped and counted."""
        with path.open("rb") as fh:
            while True:
                start = fh.tell()
                head = fh.read(INDEX.size)
                if not head:
                    return
                if len(head) < INDEX.size:
                    self._truncated(path, start)
                    return
                magic, size, length = INDEX.unpack(head)
                if magic != INDEX_MAGIC or size != 4 or length > MAX_FRAME:
                    self._corrupt(path, start, "bad frame index")
                    if not self._resync(fh, start + 1):
                        return
                    continue
                frame = fh.read(length)
                if len(frame) < length:
                    self._truncated(path, start)
                    return
                try:
                    data = self._dctx.decompress(frame)
                except zstandard.ZstdError as exc:
                    self._corrupt(path, start, str(exc))
                    continue
                self.stats.frames += 1
                yield data

    def _corrupt(self, path: Path, offset: int, why: str) -> None:
        self.stats.corrupt_frames += 1
        log.warning("%s: corrupt frame at byte %d skipped (%s)", path.name, offset, why)

    def _truncated(self, path: Path, offset: int) -> None:
        """A frame cut short: the writer was killed mid-write (everything before it is whole)."""
        self.stats.truncated += 1
        log.warning(
            "%s: truncated frame at byte %d (writer killed mid-write?); segment ends there", path.name, offset
        )

    @staticmethod
    def _resync(fh: IO[bytes], position: int) -> bool:
        """Move ``fh`` to the next frame index at or after ``position``; False at the end."""
        fh.seek(position)
        while True:
            chunk = fh.read(_CHUNK + len(INDEX_PREFIX))
            found = chunk.find(INDEX_PREFIX)
            if found >= 0:
                fh.seek(position + found)
                return True
            if len(chunk) <= len(INDEX_PREFIX):
                return False
            position += _CHUNK
            fh.seek(position)

    def summary(self) -> dict[str, Any]:
        """The reader's counters as a plain dict."""
        return {"session": self.session, **asdict(self.stats)}
