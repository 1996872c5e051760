"""Fixtures of the sandbox tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm.context import ContextSource, prepare_context


@pytest.fixture
def text_source(tmp_path: Path) -> ContextSource:
    """A small text context with one fact in it."""
    return prepare_context("the magic number is 42\n", tmp_path)
