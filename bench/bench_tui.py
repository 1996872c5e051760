"""rlm-tui under load: time to first frame, and event throughput with 1000 agents.

    uv run python bench/bench_tui.py [--runs 5] [--agents 1000] [--rate 500] [--first-frame]

1. First frame: a fresh interpreter starts rlm-tui as a user does (``tui.start.main``) and
   runs it headless until Textual's ``Ready`` (the first frame is on screen). Reported
   from process start (wall, as a user waits) and from the first import (in-process), next
   to a bare Textual app that draws the same first frame with Textual's own widgets (the
   floor Textual itself sets; a test holds the two screens equal), the two alternating;
   and the ratio of the two, the median of each round's. Targets: <= 0.5 s, ratio <= 1.10.
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

# rlm-tui as a user starts it (``rlm-tui`` is ``tui.start.main``: its command line, .env and
# settings are read before the app is built), headless at 120x36, until Textual's ``Ready``.
FIRST_FRAME = r"""
import time
start = time.perf_counter()
import tui.app


class Probe(tui.app.RLMApp):
    def run(self, **kwargs):
        return super().run(headless=True, size=(120, 36))

    def on_ready(self):
        print(time.perf_counter() - start, flush=True)  # now: the app's exit is not timed
        self.exit()


tui.app.RLMApp = Probe  # tui.start.main builds the app it finds there
import tui.start
tui.start.main([])
"""

# rlm-tui's first frame made of Textual's own widgets and nothing else: the same panes,
# borders, texts, question box, bars and footer keys (``bare_app_source`` fills in the
# texts from the app; a test holds the two screens to the same pixels). No rlm import, no
# hidden widgets, no dialogs: the floor Textual itself sets for that screen.
BARE_APP = r'''
from rich.text import Text
from textual.app import App
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Input, Static, Tree


class Bare(App):
    TITLE = "rlm"
    AUTO_FOCUS = "#question"
    CSS = """
    Screen { layout: vertical; }
    #main { height: 1fr; }
    #agents-pane { width: 55%; max-width: 110; min-width: 36; border: round $primary 50%;
                   border-title-color: $text; border-title-style: bold; }
    #agents-note { height: auto; color: $text-muted; margin: 1 2; }
    #agents { height: 1fr; background: transparent; }
    #transcript { width: 1fr; border: round $primary 50%; border-title-style: bold;
                  padding: 0 1; scrollbar-size-vertical: 1; }
    #transcript Static { color: $text-muted; margin: 1 2; }
    #ask { height: auto; padding: 0 1; }
    #question { border: tall $primary 60%; }
    #question:focus { border: tall $primary; }
    #settings { height: 1; color: $text-muted; padding: 0 1; }
    #totals { height: 1; padding: 0 1; background: $panel; }
    """
    BINDINGS = [Binding(key, action, description, show=show, priority=True)
                for key, action, description, show in KEYS]

    def compose(self):
        with Horizontal(id="main"):
            with Vertical(id="agents-pane") as pane:
                pane.border_title = "Agents"
                yield Static(NO_AGENTS, id="agents-note")
                tree = Tree("agents", id="agents")
                tree.show_root = False
                yield tree
            with VerticalScroll(id="transcript") as transcript:
                transcript.border_title = "Transcript"
                yield Static(EMPTY)
        with Vertical(id="ask"):
            yield Input(placeholder=ASK, id="question")
            yield Static(Text.from_markup(SETTINGS), id="settings")
        yield Static(Text.from_markup(TOTALS), id="totals")
        yield Footer(compact=True)

    def check_action(self, action, parameters):
        # As rlm-tui at rest, wide: nothing to cancel, no panes to switch.
        return {"cancel_run": None, "switch_pane": False}.get(action, True)
'''

BARE_PROBE = r"""

class Probe(Bare):
    def on_ready(self):
        print(time.perf_counter() - start, flush=True)
        self.exit()


Probe().run(headless=True, size=(120, 36))
"""


def bare_app_source() -> str:
    """``BARE_APP`` with rlm-tui's own texts and keys written in as literals."""
    from textual.binding import Binding

    from tui.app import ASK
    from tui.commands import KEYS
    from tui.render import Totals, totals_line
    from tui.settings import shown
    from tui.widgets.agent_tree import NO_AGENTS
    from tui.widgets.bars import SettingsBar, settings_line
    from tui.widgets.transcript import EMPTY

    settings, bar = shown(None, {}), SettingsBar()
    bar.show(None, settings.model if settings else None,
             settings.max_depth if settings else None, settings.max_steps if settings else None)
    texts = {"KEYS": [(b.key, b.action, b.description, b.show) for b in KEYS
                      if isinstance(b, Binding)],
             "NO_AGENTS": NO_AGENTS, "EMPTY": EMPTY, "ASK": ASK,
             "SETTINGS": settings_line(bar.parts).markup,
             "TOTALS": totals_line(Totals(), "ready").markup}
    return "".join(f"{name} = {value!r}\n" for name, value in texts.items()) + BARE_APP


def bare_script() -> str:
    """The bare app as a script that prints its time to ``Ready`` from its first line."""
    return "import time\nstart = time.perf_counter()\n" + bare_app_source() + BARE_PROBE


def first_frames(runs: int, scripts: dict[str, str]) -> dict[str, list[tuple[float, float]]]:
    """(from process start, from the first import) to Textual's ``Ready``, in seconds, of
    each script: ``runs`` rounds that run every script once, in an order that rotates
    every round (both see the same machine), after a warm-up round.

    Bytecode is cached in a temporary folder (the warm-up round fills it) even where
    PYTHONDONTWRITEBYTECODE is set, as it is on a user's machine after the first start.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in scripts}
    names = list(scripts)
    with tempfile.TemporaryDirectory() as cache:
        env["PYTHONPYCACHEPREFIX"] = cache
        for n in range(runs + 1):
            for name in names[n % len(names):] + names[:n % len(names)]:
                started = time.perf_counter()
                proc = subprocess.Popen([sys.executable, "-c", scripts[name]],
                                        stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
                assert proc.stdout is not None
                line = proc.stdout.readline()  # printed at Ready
                wall = time.perf_counter() - started
                if proc.wait() != 0 or not line.strip():
                    raise SystemExit(f"the {name} first-frame probe failed")
                if n:  # the first round only fills the bytecode cache
                    times[name].append((wall, float(line)))
    return times


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
    parser.add_argument("--first-frame", action="store_true",
                        help="the first frame only (no flood, no steady load)")
    args = parser.parse_args()

    times = first_frames(args.runs, {"rlm-tui": FIRST_FRAME, "bare": bare_script()})
    ours, bare = times["rlm-tui"], times["bare"]
    ratio = statistics.median(o[0] / b[0] for o, b in zip(ours, bare, strict=True))
    print(f"first frame: {statistics.median(o[0] for o in ours):.3f} s from process start, "
          f"{statistics.median(o[1] for o in ours):.3f} s from import "
          f"(median of {args.runs}; target <= 0.5 s); a bare Textual app with the same "
          f"widgets: {statistics.median(b[0] for b in bare):.3f} s, "
          f"{statistics.median(b[1] for b in bare):.3f} s; ratio {ratio:.2f} (median of "
          f"each round's ratio, from process start; target <= 1.10)")
    if args.first_frame:
        return
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
