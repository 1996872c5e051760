"""What a sandbox start costs: spawned, forked or warm, with and without file confinement.

    uv run python bench/bench_sandbox.py [--n 40]

Each round starts one sandbox of each kind, in an order that alternates, so that all see
the same machine state; a start is ``Sandbox.start`` until the context is loaded (the
worker has cut its network, capped its memory and, when confined, applied its Landlock
rules and mounted its own /dev/shm), the teardown is not counted.
- ``cold_<kind>_ms``: a new interpreter each time (spawn, imports, handshake, load);
- ``fork_<kind>_ms``: a worker forked from a ``SandboxPool``'s template (started once,
  before timing): the fork, the worker's own set-up, handshake, load;
- ``warm_<kind>_ms``: a spare already started by a ``SandboxPool`` (only the load).
``kind`` is ``confined`` (the default) or ``off`` (``confine_files=False``). Each figure
is the median over ``--n`` starts, with its min and max; ``fork_vs_cold`` is the median of
the rounds' ratios fork / cold (confined). Prints ``RESULT {json}`` last.
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


SETTLE = 0.05  # seconds for the previous start's background work (teardown, a new spare)


async def one_start(source, config: SandboxConfig, pool: SandboxPool | None) -> float:
    if pool is not None:
        await pool.warm_up()
    await asyncio.sleep(SETTLE)
    started = time.perf_counter()
    box = await Sandbox.start(source, config=config, handler=handler, pool=pool)
    seconds = time.perf_counter() - started
    await box.close()
    return seconds


HOWS = ("cold", "fork", "warm")


async def measure(n: int, source) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {f"{how}_{kind}_ms": [] for how in HOWS for kind in KINDS}
    pools = {(how, kind): SandboxPool(config, warm=0 if how == "fork" else 1,
                                      fork_server=how == "fork")
             for how in ("fork", "warm") for kind, config in KINDS.items()}
    try:
        for i in range(n):
            order = [(how, kind) for how in HOWS for kind in KINDS]
            for how, kind in order if i % 2 == 0 else reversed(order):
                seconds = await one_start(source, KINDS[kind], pools.get((how, kind)))
                times[f"{how}_{kind}_ms"].append(seconds)
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
        times = asyncio.run(measure(args.n, source))
    figures = summary(times)
    ratio = statistics.median(f / c for f, c in zip(times["fork_confined_ms"],
                                                    times["cold_confined_ms"], strict=True))
    for name, f in figures.items():
        print(f"{name}: median {f['median']} ms (min {f['min']}, max {f['max']}), n={args.n}")
    print(f"fork / cold (confined), median of the rounds' ratios: {ratio:.3f}")
    print("RESULT " + json.dumps({"confinement": file_confinement(), "n": args.n,
                                  "fork_vs_cold": round(ratio, 3), **figures}))


if __name__ == "__main__":
    main()
