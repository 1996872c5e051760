"""Fixtures of the sandbox tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm.context import ContextSource, prepare_context
from rlm.sandbox import host


@pytest.fixture(autouse=True, params=["spawn", "fork"])
def start_method(request, monkeypatch) -> str:
    """Every sandbox test runs twice: with a sandbox's private pool spawning its worker
    (as shipped) and forking it from a template, as pools shared by a run do."""
    monkeypatch.setattr(host, "PRIVATE_POOL_FORKS", request.param == "fork")
    return request.param


@pytest.fixture
def text_source(tmp_path: Path) -> ContextSource:
    """A small text context with one fact in it."""
    return prepare_context("the magic number is 42\n", tmp_path)
