"""The conformance test's shape diff and protobuf wire walk, on small known inputs."""

from __future__ import annotations

from ccxt.protobuf.mexc import PushDataV3ApiWrapper_pb2 as wrapper_pb2

from backend.tests.sim.shape_diff import PbField, from_rendering, schema_of, shape_diff, walk_wire
from backend.tests.sim.test_conformance import RECORDED, WRAPPER


def test_kinds_keys_and_nulls_are_compared_recursively() -> None:
    recorded = {"count": None, "symbol": "BTCUSDT", "data": {"r": 0.1, "zone": "UTC+8"}}
    ours = {"count": 5, "symbol": "BTCUSDT", "data": {"r": "0.1", "v": 1}}
    assert shape_diff(ours, recorded) == [
        "$.count: number != null",
        "$.data.zone: missing",
        "$.data.v: extra",
        "$.data.r: string != number",
    ]
    assert shape_diff({"a": 1, "b": 2.5}, {"b": 3, "a": 7}) == []  # values and key order do not count


def test_time_units_are_judged_by_magnitude() -> None:
    assert shape_diff({"time": 1_767_204_000}, {"time": 1_767_204_000_000}) == ["$.time: unit s != ms"]
    assert shape_diff({"ts": 1_767_204_000_123}, {"ts": 1_767_204_000_000}) == []
    assert shape_diff({"volume24": 5}, {"volume24": 1_281_215_650}) == []  # not a time key


def test_lists_are_compared_per_element_and_tuples_by_position() -> None:
    row = [1_767_204_300_000, "87667.2", 1_767_204_600_000]
    assert shape_diff([[1_767_204_300_000, 87667.2, 1_767_204_600_000]], [row]) == [
        "$[*][1]: number != string"
    ]
    assert shape_diff([row[:2]], [row]) == ["$[*]: length 2 != 3"]
    assert shape_diff([], [row]) == []  # an empty answer cannot be judged element-wise
    assert shape_diff([{"a": 1}, {"a": 2, "b": 3}], [{"a": 0}]) == ["$[*].b: extra"]  # reported once


def test_wire_walk_sees_fields_the_bundled_classes_lack() -> None:
    frame = bytes.fromhex(RECORDED["spot_ws_pb_aggre_bookticker_100ms_hex"]["payload"])
    bare = walk_wire(frame, schema_of(wrapper_pb2.PushDataV3ApiWrapper.DESCRIPTOR))
    assert set(bare["publicAggreBookTicker"]) == {
        "bidPrice",
        "bidQuantity",
        "askPrice",
        "askQuantity",
        "#5",
        "#6",
    }
    official = walk_wire(frame, WRAPPER)
    assert official["publicAggreBookTicker"]["version"] == "82164153436"
    assert official["publicAggreBookTicker"]["lastOrderCreateTime"] == 1_790_281_240_471
    assert official["sendTime"] == 1_790_281_243_450 and "symbolId" not in official


def test_a_rendering_becomes_the_walked_form() -> None:
    schema = {1: PbField("channel", "string"), 6: PbField("sendTime", "int")}
    assert from_rendering({"channel": "x", "sendTime": "1755973885809", "other": []}, schema) == {
        "channel": "x",
        "sendTime": 1_755_973_885_809,
        "other": [],
    }
    decoded = RECORDED["spot_ws_pb_kline_min1_hex_osslabz"]["decoded_with_official_proto"]
    walked = walk_wire(bytes.fromhex(RECORDED["spot_ws_pb_kline_min1_hex_osslabz"]["payload"]), WRAPPER)
    assert from_rendering(decoded, WRAPPER) == walked
