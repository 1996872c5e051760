"""What file confinement costs a sandbox start: the same starts with and without it.

    uv run python bench/bench_sandbox.py [--n 40]

Each round starts one sandbox of each kind, in an order that alternates, so that both see
the same machine state; a start is ``Sandbox.start`` until the context is loaded (the
worker has cut its network, capped its memory and, when confined, applied its Landlock
rules and mounted its own /dev/shm), the teardown is not counted.
- ``cold_<kind>_ms``: a new worker each time (interpreter, imports, handshake, load);
- ``warm_<kind>_ms``: a warm worker from a ``SandboxPool`` (only the load).
``kind`` is ``confined`` (the default) or ``off`` (``confine_files=False``). Each figure
is the median over ``--n`` starts, with its min and max. Prints ``RESULT {json}`` last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rlm.context import prepare_context  # noqa: E402
from rlm.sandbox import Sandbox, SandboxConfig, SandboxPool, file_confinement  # noqa: E402

KINDS = {"confined": SandboxConfig(), "off": SandboxConfig(confine_files=False)}


async def handler(op: str, payload: dict) -> str:
    return ""


async def one_start(source, config: SandboxConfig, pool: SandboxPool | None) -> float:
    if pool is not None:
        await pool.warm_up()
    started = time.perf_counter()
    box = await Sandbox.start(source, config=config, handler=handler, pool=pool)
    seconds = time.perf_counter() - started
    await box.close()
    return seconds


async def measure(n: int, source) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {f"{how}_{kind}_ms": [] for how in ("cold", "warm")
                                     for kind in KINDS}
    pools = {kind: SandboxPool(config, warm=1) for kind, config in KINDS.items()}
    try:
        for i in range(n):
            order = list(KINDS) if i % 2 == 0 else list(reversed(KINDS))
            for kind in order:
                times[f"cold_{kind}_ms"].append(await one_start(source, KINDS[kind], None))
                times[f"warm_{kind}_ms"].append(await one_start(source, KINDS[kind],
                                                                pools[kind]))
    finally:
        for pool in pools.values():
            await pool.close()
    return times


def summary(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {name: {"median": round(statistics.median(v) * 1000, 2),
                   "min": round(min(v) * 1000, 2), "max": round(max(v) * 1000, 2)}
            for name, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40, help="starts of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rlm-bench-sandbox-") as folder:
        source = prepare_context("the magic number is 42\n" * 100, Path(folder))
        asyncio.run(measure(2, source))  # warm-up: caches, bytecode
        figures = summary(asyncio.run(measure(args.n, source)))
    for name, f in figures.items():
        print(f"{name}: median {f['median']} ms (min {f['min']}, max {f['max']}), n={args.n}")
    print("RESULT " + json.dumps({"confinement": file_confinement(), "n": args.n, **figures}))


if __name__ == "__main__":
    main()
