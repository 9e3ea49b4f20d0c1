"""Segments on disk: written by a thread, read back in order, whatever happened to the files.

A recording is untrusted input to its reader (a crash mid-write, a corrupt byte, a file from
another version), and a full disk must never reach the stream: each case here is counted,
logged and skipped, or refused with a clear error.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import time
from pathlib import Path

import orjson
import pytest
import zstandard

from backend.src.code_identity import code_identity
from backend.src.errors import RecordingNotFoundError, RecordingVersionError
from backend.src.recording.format import SUFFIX, encode_event, index_frame, rx_payload
from backend.src.recording.reader import RecordingReader
from backend.src.recording.segment import SegmentWriter, WriterConfig

FAST = WriterConfig(flush_s=0.01)


def write(directory: Path, n: int = 50, config: WriterConfig = FAST) -> SegmentWriter:
    """A closed writer that recorded ``n`` binary frames, ``n`` text frames and an event."""
    writer = SegmentWriter(directory, "20260101T000000Z-1", config)
    for i in range(n):
        writer.rx(1_000 + i, 1, bytes([i % 256]) * 20, i % 7 == 0)
        writer.rx(2_000 + i, 2, f'{{"c":"push.ticker","i":{i}}}', False)
    writer.event("rest", 3_000, {"url": "http://x/api/v3/time", "status": 200, "body": '{"serverTime":1}'})
    writer.close()
    return writer


def test_records_read_back_in_order_with_their_payloads(tmp_path: Path) -> None:
    writer = write(tmp_path)
    reader = RecordingReader(tmp_path)
    records = list(reader.records())
    assert writer.stats()["records"] == len(records) == 101 and writer.dropped == 0
    binary = [r for r in records if r["type"] == "rx" and "b64" in r]
    assert [rx_payload(r) for r in binary] == [bytes([i % 256]) * 20 for i in range(50)]
    assert [bool(r.get("drain")) for r in binary] == [i % 7 == 0 for i in range(50)]
    text = [rx_payload(r) for r in records if r["type"] == "rx" and "text" in r]
    assert text[3] == '{"c":"push.ticker","i":3}'
    assert records[-1]["type"] == "rest" and records[-1]["body"] == '{"serverTime":1}'
    assert reader.stats.corrupt_frames == reader.stats.truncated == reader.stats.bad_lines == 0


def test_segments_rotate_each_with_a_header(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, "20260101T000000Z-1", WriterConfig(rotate_s=0.05, flush_s=0.01))
    for i in range(6):
        writer.event("meta", i, {"i": i})
        writer._wake.set()
        time.sleep(0.06)
    writer.close()
    assert len(writer.segments) >= 3
    reader = RecordingReader(tmp_path)
    assert [r["i"] for r in reader.records()] == list(range(6))
    assert reader.stats.segments == len(writer.segments)


def test_readable_with_zstdcat_and_jq(tmp_path: Path) -> None:
    if shutil.which("zstdcat") is None:
        pytest.skip("zstdcat not installed")
    write(tmp_path, 5)
    (segment,) = tmp_path.glob(f"*{SUFFIX}")
    out = subprocess.run(["zstdcat", str(segment)], capture_output=True, check=True).stdout
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["version"] == 1
    assert sum(1 for line in lines if line["type"] == "rx") == 10


def test_a_corrupt_frame_is_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    writer = SegmentWriter(tmp_path, "20260101T000000Z-1", FAST)
    for i in range(3):  # three frames of one record each
        writer.event("meta", i, {"i": i})
        writer._wake.set()
        time.sleep(0.05)
    writer.close()
    (segment,) = tmp_path.glob(f"*{SUFFIX}")
    data = bytearray(segment.read_bytes())
    second = data.find(b"\x5e\x2a\x4d\x18", data.find(b"\x5e\x2a\x4d\x18", 12) + 1)  # 3rd index: record 1
    data[second + 20 : second + 24] = b"\xff\xff\xff\xff"  # inside its zstd frame
    data[-10:-6] = b"XXXX"  # and a corrupt index region at the very end is harmless
    segment.write_bytes(bytes(data))
    reader = RecordingReader(tmp_path)
    got = [r["i"] for r in reader.records()]
    assert 0 in got and 1 not in got
    assert reader.stats.corrupt_frames >= 1
    assert "corrupt frame" in caplog.text


def test_a_truncated_tail_keeps_everything_before_it(tmp_path: Path) -> None:
    write(tmp_path)
    writer = SegmentWriter(tmp_path, "20260101T000000Z-1", FAST)  # same session: a 2nd segment
    writer.close()
    (segment, *_) = sorted(tmp_path.glob(f"*{SUFFIX}"))
    data = segment.read_bytes()
    segment.write_bytes(data + index_frame(500) + b"\x28\xb5\x2f\xfd" + b"\0" * 40)  # killed mid-write
    reader = RecordingReader(tmp_path)
    assert len(list(reader.records())) == 101
    assert reader.stats.truncated == 1


def test_unreadable_lines_are_skipped(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, "20260101T000000Z-1", FAST)
    writer.event("meta", 1, {"i": 1})
    writer.close()
    (segment,) = tmp_path.glob(f"*{SUFFIX}")
    lines = b'not json\n{"type":"rx"}\n[1]\n' + encode_event("meta", 2, {"i": 2})
    junk = zstandard.ZstdCompressor().compress(lines)
    segment.write_bytes(segment.read_bytes() + index_frame(len(junk)) + junk)
    reader = RecordingReader(tmp_path)
    assert [r["i"] for r in reader.records()] == [1, 2]
    assert reader.stats.bad_lines == 3


def test_another_format_version_is_refused(tmp_path: Path) -> None:
    head = zstandard.ZstdCompressor().compress(
        encode_event("header", 1, {"format": "levibot-rec", "version": 0, "session": "s"})
    )
    (tmp_path / f"20250101T000000Z-1.00000{SUFFIX}").write_bytes(index_frame(len(head)) + head)
    with pytest.raises(RecordingVersionError, match="version 0"):
        list(RecordingReader(tmp_path).records())


def test_a_recording_by_other_code_is_read_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The code identity is in every header; a replay on other code (another ccxt, changed
    sources) may diverge where that code asks or parses differently: said once, not refused."""
    write(tmp_path, 3)
    reader = RecordingReader(tmp_path)
    list(reader.records())
    assert reader.recorded_code == code_identity() and "other code" not in caplog.text
    other = {"ccxt": "4.0.0", "source": "0123456789ab"}
    head = zstandard.ZstdCompressor().compress(
        encode_event("header", 1, {"format": "levibot-rec", "version": 1, "session": "s", "code": other})
    )
    for segment in (0, 1):
        path = tmp_path / f"20250101T000000Z-2.0000{segment}{SUFFIX}"
        path.write_bytes(index_frame(len(head)) + head)
    reader = RecordingReader(tmp_path, "20250101T000000Z-2")
    list(reader.records())
    assert reader.recorded_code == other
    warnings = [r for r in caplog.records if "recorded by other code" in r.getMessage()]
    assert len(warnings) == 1 and "4.0.0" in warnings[0].getMessage()


def test_an_empty_directory_or_unknown_session_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingNotFoundError, match="no recording"):
        RecordingReader(tmp_path)
    write(tmp_path, 1)
    with pytest.raises(RecordingNotFoundError, match="no session 'nope'"):
        RecordingReader(tmp_path, "nope")


def test_memory_is_bounded_and_drops_are_announced(tmp_path: Path) -> None:
    config = WriterConfig(flush_s=60.0, max_pending_bytes=10_000, wake_bytes=1 << 30)
    writer = SegmentWriter(tmp_path, "20260101T000000Z-1", config)
    for i in range(200):  # ~120 bytes each: far more than 10 KB before the thread wakes
        writer.rx(i, 1, b"x" * 24, False)
    assert 0 < writer.dropped < 200 and writer.stats()["pending_bytes"] <= 10_000
    writer.close()
    records = list(RecordingReader(tmp_path).records())
    gap = next(r for r in records if r["type"] == "gap")
    assert gap["lost"] == writer.dropped
    assert sum(r["type"] == "rx" for r in records) == 200 - writer.dropped


def test_a_write_error_is_counted_never_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    writer = SegmentWriter(tmp_path, "20260101T000000Z-1", WriterConfig(flush_s=60.0))
    real = writer._append_frame
    failures = iter([OSError(errno.ENOSPC, "No space left on device")])

    def full_disk(frame: bytes) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        real(frame)

    writer._append_frame = full_disk  # type: ignore[method-assign]
    writer.rx(1, 1, b"lost", False)
    writer._flush()  # the disk is full: counted, logged
    writer.rx(2, 1, b"kept", False)
    writer.close()
    assert writer.write_errors == 1
    assert "No space left on device" in caplog.text
    records = list(RecordingReader(tmp_path).records())
    assert [r["type"] for r in records] == ["gap", "rx"] and records[0]["lost"] == 1
    assert rx_payload(records[1]) == b"kept"
