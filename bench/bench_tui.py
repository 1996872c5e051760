"""rlm-tui under load: time to first frame, and event throughput with 1000 agents.

    uv run python bench/bench_tui.py [--runs 5] [--agents 1000] [--rate 500]

1. First frame: a fresh interpreter imports the app and runs it headless until Textual's
   ``Ready`` (the first frame is on screen). Reported from process start (wall, as a user
   waits) and from the first import (in-process), next to a bare Textual app with the same
   widgets (the floor Textual itself sets). Target: <= 0.5 s.
2. Flood: a thread plays the part of the engine and emits every event of a 1000-agent run
   through the real ``EventBridge`` as fast as it can; measured: events applied per second.
3. Steady load: the same run paced at ``--rate`` events per second (the tree follows the
   active agent, a transcript is shown); measured: delay from emit to screen (p50/p95),
   and how late a 20 ms timer on the UI loop fires (the UI's responsiveness), p50/max.

Prints medians over ``--runs``. Headless, no model, no sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rlm import events as ev  # noqa: E402

FIRST_FRAME = r"""
import time
start = time.perf_counter()
from tui.app import RLMApp

class Probe(RLMApp):
    def on_ready(self):
        self.ready = time.perf_counter()
        self.exit()

app = Probe(cursor_blink=False)
app.run(headless=True, size=(120, 36))
print(app.ready - start)
"""


BARE_TEXTUAL = r"""
import time
start = time.perf_counter()
from textual.app import App
from textual.widgets import Footer, Input, Static, Tree

class Bare(App):
    def compose(self):
        yield Tree("agents")
        yield Static("transcript")
        yield Input()
        yield Footer()

    def on_ready(self):
        self.ready = time.perf_counter()
        self.exit()

app = Bare()
app.run(headless=True, size=(120, 36))
print(app.ready - start)
"""


def first_frame(runs: int, script: str = FIRST_FRAME) -> tuple[float, float]:
    """Median (from process start, from first import) to Textual's Ready, in seconds.

    Bytecode is cached in a temporary folder (a warm-up run fills it) even where
    PYTHONDONTWRITEBYTECODE is set, as it is on a user's machine after the first start.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    walls, inner = [], []
    with tempfile.TemporaryDirectory() as cache:
        env["PYTHONPYCACHEPREFIX"] = cache
        for n in range(runs + 1):
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                    text=True, cwd=ROOT, env=env)
            line = proc.stdout.readline()  # printed after Ready; exit costs are not counted
            wall = time.perf_counter() - started
            proc.wait()
            if n:  # the first run only fills the bytecode cache
                walls.append(wall)
                inner.append(float(line))
    return statistics.median(walls), statistics.median(inner)


def synthetic_run(agents: int, deltas: int = 8, seed: int = 7) -> list[ev.Event]:
    """Every event of a run of ``agents`` agents (depth <= 3), in an engine-like order."""
    rng = random.Random(seed)
    ids, events = ["0"], []
    started = {"0"}

    def add(cls, agent_id, **fields):
        parent = agent_id.rsplit(".", 1)[0] if "." in agent_id else None
        events.append(cls(agent_id=agent_id, parent_id=parent, depth=agent_id.count("."),
                          ts=time.time(), **fields))

    add(ev.RunStarted, "0", run_id="bench", task="bench", model="m")
    add(ev.AgentStarted, "0", task="Root task of the benchmark", model="m")
    children: dict[str, int] = {}
    for _ in range(agents - 1):
        parent = rng.choice([a for a in ids[-50:] if a.count(".") < 3] or ["0"])
        children[parent] = children.get(parent, 0) + 1
        agent_id = f"{parent}.{children[parent]}"
        ids.append(agent_id)
        add(ev.AgentStarted, agent_id, task=f"Sub-task {agent_id}: read a slice", model="m")
        started.add(agent_id)
        add(ev.StepStarted, agent_id, step=1)
        for i in range(deltas):
            add(ev.TokenDelta, agent_id, step=1, text=f"token {i} ")
        add(ev.ModelReplied, agent_id, step=1, model="m", prompt_tokens=500,
            completion_tokens=40, text="Thought: look.\n```repl\nprint(context[:100])\n```")
        add(ev.CodeStarted, agent_id, step=1, code="print(context[:100])")
        add(ev.Observation, agent_id, step=1, text="some output\n" * 5)
        add(ev.AgentFinished, agent_id, status="answered", answer="ok", steps=1)
    add(ev.AgentFinished, "0", status="answered", answer="done", steps=1)
    add(ev.RunFinished, "0", status="answered", answer="done", agents=agents)
    return events


async def play(events: list[ev.Event], rate: float | None) -> dict[str, float]:
    from tui.app import RLMApp
    from tui.bridge import EventBridge

    app = RLMApp(cursor_blink=False)
    emitted: dict[int, float] = {}
    delays: list[float] = []
    lags: list[float] = []
    async with app.run_test(size=(120, 36)) as pilot:
        app.run_no += 1
        bridge = app.bridge = EventBridge(app.post_message, app.run_no)
        original = app.show_events

        def timed(batch):
            applied = original(batch)
            now = time.perf_counter()
            delays.extend(now - emitted[id(e)] for e in batch if id(e) in emitted)
            return applied
        app.show_events = timed

        def engine() -> None:
            start = time.perf_counter()
            for n, event in enumerate(events):
                if rate:
                    wait = start + n / rate - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                emitted[id(event)] = time.perf_counter()
                bridge(event)

        async def watch_loop() -> None:
            while True:
                before = time.perf_counter()
                await asyncio.sleep(0.02)
                lags.append(time.perf_counter() - before - 0.02)

        watcher = asyncio.create_task(watch_loop())
        began = time.perf_counter()
        thread = threading.Thread(target=engine)
        thread.start()
        deadline = time.monotonic() + 300
        while app.state.finished is None:
            if time.monotonic() > deadline or not app.is_running:
                raise SystemExit("the app stopped applying events")
            await pilot.pause(0.01)
        elapsed = time.perf_counter() - began
        thread.join()
        watcher.cancel()
        assert len(app.agent_tree.nodes) == len({e.agent_id for e in events if e.agent_id})
    delays.sort()
    return {
        "events_per_s": len(events) / elapsed,
        "batches": bridge.posted,
        "delay_p50_ms": 1000 * delays[len(delays) // 2],
        "delay_p95_ms": 1000 * delays[int(len(delays) * 0.95)],
        "lag_p50_ms": 1000 * statistics.median(lags),
        "lag_max_ms": 1000 * max(lags),
    }


def median_of(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500.0, help="events per second")
    args = parser.parse_args()

    wall, inner = first_frame(args.runs)
    bare_wall, bare_inner = first_frame(args.runs, BARE_TEXTUAL)
    print(f"first frame: {wall:.3f} s from process start, {inner:.3f} s from import "
          f"(median of {args.runs}; target <= 0.5 s); a bare Textual app with the same "
          f"widgets: {bare_wall:.3f} s, {bare_inner:.3f} s")
    events = synthetic_run(args.agents)
    flood = median_of([asyncio.run(play(events, None)) for _ in range(args.runs)])
    print(f"flood, {args.agents} agents, {len(events)} events: "
          f"{flood['events_per_s']:,.0f} events/s applied in {flood['batches']:.0f} batches; "
          f"UI timer late by {flood['lag_p50_ms']:.1f} ms median, {flood['lag_max_ms']:.0f} "
          f"ms at worst")
    steady = median_of([asyncio.run(play(events, args.rate)) for _ in range(args.runs)])
    print(f"steady, {args.rate:.0f} events/s: emit-to-screen {steady['delay_p50_ms']:.1f} ms "
          f"p50, {steady['delay_p95_ms']:.1f} ms p95; UI timer late by "
          f"{steady['lag_p50_ms']:.1f} ms median, {steady['lag_max_ms']:.0f} ms at worst")


if __name__ == "__main__":
    main()
