"""The faulty simulator session, recorded once for every recording and replay test."""

from __future__ import annotations

import asyncio

import pytest

from .session import Session, record_faulty_session


@pytest.fixture(scope="package")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    directory = tmp_path_factory.mktemp("faulty")
    return Session(directory, asyncio.run(record_faulty_session(directory)))
