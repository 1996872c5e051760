"""Shared pieces of the sandbox tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm.context import ContextSource, prepare_context
from rlm.sandbox import Sandbox, SandboxConfig

FAST = SandboxConfig(action_timeout=10.0, memory_mb=1024)


async def echo(op: str, payload: dict) -> object:
    return {"op": op, "payload": payload}


@pytest.fixture
def text_source(tmp_path: Path) -> ContextSource:
    return prepare_context("the magic number is 42\n", tmp_path)


async def start(source, handler=echo, config=FAST, **kw) -> Sandbox:
    return await Sandbox.start(source, config=config, handler=handler, **kw)
