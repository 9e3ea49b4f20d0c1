"""MEXC's recorded error bodies through ccxt's ``handle_errors``: which exception, and whether
the adapter's backoff retries it (``backoff.is_transient``).

A retry must never be spent on an error a retry cannot cure (unknown symbol, bad request), and
an error that passes (maintenance) must never end a stream.
"""

from __future__ import annotations

import json

import ccxt
import pytest

from backend.src.adapters.transient import is_transient

from ..recorded_real import entry, names, payload

#: recorded error body → (ccxt 4.5.90 exception, retried by the adapter)
ERRORS: dict[str, tuple[type[ccxt.BaseError], bool]] = {
    # live (GCT): contract REST errors use "message"; code 1001 is ccxt's exact BadSymbol
    "contract_error_unknown_symbol_depth": (ccxt.BadSymbol, False),
    "spot_error_bad_symbol_10007": (ccxt.BadSymbol, False),
    "spot_error_start_time_90d_400": (ccxt.BadRequest, False),
    # "maintenance" in the body wins (ccxt's broad match runs before the exact code 500)
    "error_maintenance_500": (ccxt.OnMaintenance, True),
    # ccxt files InvalidNonce under NetworkError; is_transient leaves it out: the same clock fails again
    "spot_error_recvwindow_700003": (ccxt.InvalidNonce, False),
    "contract_error_position_2009": (ccxt.InvalidOrder, False),
    "spot_error_insufficient_10101": (ccxt.InsufficientFunds, False),
}


def handle(body: object, status: int = 200) -> None:
    ex = ccxt.mexc()
    text = json.dumps(body, ensure_ascii=False)
    ex.handle_errors(status, "", "https://api.mexc.com/x", "GET", {}, text, body, None, None)


@pytest.mark.parametrize("name", sorted(ERRORS))
@pytest.mark.parametrize("status", [200, 400])
def test_recorded_error_bodies_map_to_ccxt_exceptions(name: str, status: int) -> None:
    """``handle_errors`` reads the body before the HTTP status is looked at (ccxt's ``fetch``
    calls it first), so the mapping holds whatever status MEXC sent (not recorded)."""
    expected, transient = ERRORS[name]
    with pytest.raises(ccxt.BaseError) as info:
        handle(payload(name), status)
    assert type(info.value) is expected
    assert is_transient(info.value) is transient


def test_every_recorded_error_body_is_covered() -> None:
    errors = {n for n in names("rest") if "error" in n}
    assert errors == set(ERRORS)


@pytest.mark.parametrize("name", [n for n in names("rest") if "error" not in n])
def test_recorded_answers_are_no_errors(name: str) -> None:
    body = payload(name)
    if isinstance(body, dict) and str(body.get("code", 0)) not in ("0", "200"):
        pytest.fail(f"{name}: a recorded answer with code {body.get('code')}: {entry(name)['note'][:80]}")
    handle(body)  # raises on anything ccxt would call an error
