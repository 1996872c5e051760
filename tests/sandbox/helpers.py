"""Shared pieces of the sandbox tests."""

from __future__ import annotations

from rlm.sandbox import Sandbox, SandboxConfig

FAST = SandboxConfig(action_timeout=10.0, memory_mb=1024)


async def echo(op: str, payload: dict) -> object:
    return {"op": op, "payload": payload}


async def start(source, handler=echo, config=FAST, **kw) -> Sandbox:
    return await Sandbox.start(source, config=config, handler=handler, **kw)
