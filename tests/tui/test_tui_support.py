"""Shared pieces of the TUI tests: scripted runs, synthetic event sequences, waiting helpers.

(Named ``test_tui_*`` so it lives with the TUI tests; it holds no tests itself.)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from rlm import RLM
from rlm import events as ev
from rlm.errors import ServerUnreachable
from rlm.llm.scripted import ScriptedModel
from rlm.trace import TraceWriter
from tui.app import RLMApp
from tui.runner import RunRequest

T0 = 1_760_000_000.0  # a fixed wall-clock start for synthetic runs


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- a real depth-2 run on a scripted model ---------------------------------------------
def task_of(messages: list[dict]) -> str:
    return messages[1]["content"].split("\n", 1)[0].removeprefix("Task: ")


def step_of(messages: list[dict]) -> int:
    return sum(1 for m in messages if m["role"] == "assistant") + 1


def depth2_reply(messages: list[dict], model: str) -> str:
    """Root asks a child, the child asks a grandchild, the grandchild answers 42."""
    task, step = task_of(messages), step_of(messages)
    if task.startswith("Find the magic"):
        if step == 1:
            return ("Thought: I will ask a child agent to look.\n```repl\n"
                    "r = rlm_query('Look in part one')\nprint(r)\n```")
        return "Thought: the child found it.\nFinal Answer: 42"
    if task.startswith("Look in part one"):
        if step == 1:
            return ("Thought: delegate again.\n```python\n"
                    "print(rlm_query('Read line 7'))\n```")
        return "Final Answer: part one says 42"
    return "Thought: line 7 says 42.\nFinal Answer: 42"


def scripted_factory(reply, **settings) -> Callable[[RunRequest], RLM]:
    """An engine factory: the real RLM on a ScriptedModel, limits from the request."""
    def factory(request: RunRequest) -> RLM:
        values = dict(settings)
        values.setdefault("max_depth", request.max_depth)
        values.setdefault("max_steps", request.max_steps)
        return RLM(client=ScriptedModel(reply), env={}, **values)
    return factory


def make_app(question: str | None = None, factory=None, **kwargs) -> RLMApp:
    kwargs.setdefault("cursor_blink", False)
    return RLMApp(question, engine_factory=factory or scripted_factory(depth2_reply), **kwargs)


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Let the app work until ``condition()`` holds (fails the test after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the app did not get there in time")
        await pilot.pause(0.02)


async def wait_run_end(pilot, timeout: float = 60.0) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.handle is not None and not app.running
                   and app.result_panel.display, timeout)
    await pilot.pause()


def labels(app: RLMApp) -> dict[str, str]:
    """Every agent's tree label as plain text, by agent id."""
    tree = app.agent_tree
    return {agent_id: tree.render_label(node, _style(), _style()).plain
            for agent_id, node in tree.nodes.items()}


def tree_shape(app: RLMApp) -> list[tuple[str, str | None, str, int]]:
    """(agent id, parent id, status, steps) of every node, in tree order."""
    rows = []
    for agent_id, node in app.agent_tree.nodes.items():
        agent = node.data
        parent = node.parent.data.agent_id if node.parent and node.parent.data else None
        rows.append((agent_id, parent, agent.status, agent.steps))
    return rows


def _style():
    from rich.style import Style

    return Style()


# --- an engine that fails before the run, as rlm's preflight does ----------------------
class Unreachable:
    """An engine whose preflight fails the way rlm's does when Ollama is not running."""

    settings = None

    def __init__(self, request):
        pass

    def session(self, context=None, *, trace=None):
        return self

    def subscribe(self, fn):
        return lambda: None

    def cancel(self):
        pass

    def stop_agent(self, agent_id):
        pass

    def close(self):
        pass

    def ask(self, question, context=None, *, keep="replace"):
        raise ServerUnreachable("Ollama is not running at http://127.0.0.1:11434. Start it "
                                "with `ollama serve`, or set OLLAMA_HOST.")


# --- sandbox processes of this test process --------------------------------------------
def sandbox_pids(*, templates: bool = False) -> list[int]:
    """Live sandbox workers started by this process (with ``templates``, also the pools'
    fork-server templates: worker number 0 of a run, ``procs.marker``)."""
    mark = f"RLM_SANDBOX_RUN={os.getpid()}-".encode()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            environ = Path(f"/proc/{name}/environ").read_bytes()
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        state = stat.rsplit(")", 1)[-1].split()[0]
        values = [item for item in environ.split(b"\0") if item.startswith(mark)]
        if not values or state == "Z":
            continue
        if templates or not values[0].endswith(b".000000"):
            pids.append(int(name))
    return pids


# --- synthetic runs (fixed times) ------------------------------------------------------
class Script:
    """Builds an event sequence with fixed timestamps, as the engine would emit it."""

    def __init__(self, start: float = T0):
        self.ts = start
        self.seq = 0
        self.events: list[ev.Event] = []

    def add(self, cls, agent_id: str, dt: float = 0.5, **fields) -> ev.Event:
        self.ts += dt
        self.seq += 1
        parent = agent_id.rsplit(".", 1)[0] if "." in agent_id else None
        depth = agent_id.count(".")
        if cls in (ev.RunStarted, ev.RunFinished):
            parent, depth = None, 0
        event = cls(agent_id=agent_id, parent_id=parent, depth=depth, seq=self.seq,
                    ts=self.ts, **fields)
        self.events.append(event)
        return event

    def agent(self, agent_id: str, task: str, chars: int = 1200) -> None:
        self.add(ev.AgentStarted, agent_id, task=task, model="ollama/llama3",
                 context_info={"type": "str", "chars": chars})

    def step(self, agent_id: str, step: int, reply: str, tokens=(400, 60)) -> None:
        self.add(ev.StepStarted, agent_id, step=step)
        self.add(ev.ModelReplied, agent_id, step=step, text=reply, model="ollama/llama3",
                 prompt_tokens=tokens[0], completion_tokens=tokens[1], seconds=1.5)

    def observe(self, agent_id: str, step: int, text: str, **fields) -> None:
        self.add(ev.Observation, agent_id, step=step, text=text, **fields)

    def finish(self, agent_id: str, status: str, steps: int, **fields) -> None:
        self.add(ev.AgentFinished, agent_id, status=status, steps=steps, **fields)


CODE_SPLIT = ("Thought: The context is long; I will split it and ask one child per part.\n"
              "```repl\nparts = [context[i:i + 4000] for i in range(0, len(context), 4000)]\n"
              "answers = rlm_query_batched([f'Find the magic number in part {i}' "
              "for i in range(len(parts))], contexts=parts)\nprint(answers)\n```")


def in_progress_script() -> Script:
    """A depth-2 run caught mid-way: every status but 'cancelled' is on screen."""
    s = Script()
    s.add(ev.RunStarted, "0", run_id="3f2a9c1b7d4e", task="What is the magic number?",
          model="ollama/llama3")
    s.agent("0", "What is the magic number? It is hidden somewhere in the book.", 120_000)
    s.step("0", 1, CODE_SPLIT, (900, 120))
    s.add(ev.CodeStarted, "0", step=1, code="parts = ...")
    s.add(ev.AgentStatus, "0", status="waiting")
    for i in range(1, 5):
        s.agent(f"0.{i}", f"Find the magic number in part {i - 1}", 4000)
    s.step("0.1", 1, "Thought: I read the part.\nFinal Answer: not in this part")
    s.finish("0.1", "answered", 1, answer="not in this part")
    s.step("0.2", 1, "Thought: this part is dense; one more level.\n```repl\n"
           "print(rlm_query('Scan lines 1-200 for a number called magic'))\n```")
    s.add(ev.AgentStatus, "0.2", status="waiting")
    s.agent("0.2.1", "Scan lines 1-200 for a number called magic", 2000)
    s.step("0.2.1", 1, "Thought: search.\n```repl\nimport re\n"
           "print(re.findall(r'magic number is (\\d+)', context))\n```", (300, 40))
    s.observe("0.2.1", 1, "['7481']")
    s.add(ev.StepStarted, "0.2.1", step=2)
    s.add(ev.TokenDelta, "0.2.1", step=2, text="Thought: the number is 7481. ")
    s.add(ev.TokenDelta, "0.2.1", step=2, text="Final Ans")
    s.add(ev.StepStarted, "0.3", step=1)
    s.finish("0.3", "failed", 1, error="ProviderError: the server answered 500 three times")
    s.step("0.4", 1, "Thought: keep looking.\n```repl\nprint(len(context))\n```")
    s.observe("0.4", 1, "4000")
    s.finish("0.4", "limit", 1, limit_hit="steps", answer="probably not here")
    return s


def finished_script() -> Script:
    """The same kind of run, finished: the root answers 7481."""
    s = Script()
    s.add(ev.RunStarted, "0", run_id="3f2a9c1b7d4e", task="What is the magic number?",
          model="ollama/llama3")
    s.agent("0", "What is the magic number? It is hidden somewhere in the book.", 120_000)
    s.step("0", 1, CODE_SPLIT, (900, 120))
    s.add(ev.CodeStarted, "0", step=1, code="parts = ...")
    s.add(ev.AgentStatus, "0", status="waiting")
    s.agent("0.1", "Find the magic number in part 0", 4000)
    s.agent("0.2", "Find the magic number in part 1", 4000)
    s.step("0.1", 1, "Thought: I read it.\nFinal Answer: not in this part")
    s.finish("0.1", "answered", 1, answer="not in this part")
    s.step("0.2", 1, "Thought: search.\n```repl\nimport re\n"
           "print(re.findall(r'magic number is (\\d+)', context))\n```")
    s.add(ev.SubCall, "0.2", kind="llm_query", prompt="Is 7481 a plausible magic number?",
          answer="Yes.", model="ollama/llama3", prompt_tokens=20, completion_tokens=2,
          seconds=0.4)
    s.observe("0.2", 1, "['7481']")
    s.step("0.2", 2, "Thought: found it.\nFinal Answer: 7481")
    s.finish("0.2", "answered", 2, answer="7481")
    s.add(ev.SubCall, "0", kind="rlm_query", prompt="Find the magic number in part 0",
          answer="not in this part", child_id="0.1", seconds=2.0)
    s.add(ev.SubCall, "0", kind="rlm_query", prompt="Find the magic number in part 1",
          answer="7481", child_id="0.2", seconds=4.5)
    s.add(ev.AgentStatus, "0", status="running")
    s.observe("0", 1, "['not in this part', '7481']\n" + "line of output\n" * 400,
              cut_chars=1234)
    s.step("0", 2, "Thought: part 1 has it.\nFinal Answer: The magic number is 7481.")
    s.finish("0", "answered", 2, answer="The magic number is 7481.")
    s.add(ev.RunFinished, "0", status="answered", answer="The magic number is 7481.",
          seconds=s.ts - T0, agents=3)
    return s


def two_turn_script() -> Script:
    """A conversation of two questions: each turn is a root with children of its own."""
    s = finished_script()
    s.add(ev.RunStarted, "1", run_id="5d6e7f8a9b0c", task="Which part held it?",
          model="ollama/llama3")
    s.agent("1", "Which part held it?", 120_000)
    s.step("1", 1, "Thought: check both again.\n```repl\nprint(rlm_query_batched("
           "['Confirm 7481 in part 1', 'Look for another magic number in part 0']))\n```",
           (1400, 90))
    s.add(ev.AgentStatus, "1", status="waiting")
    s.agent("1.1", "Confirm 7481 in part 1", 4000)
    s.agent("1.2", "Look for another magic number in part 0", 4000)
    s.step("1.1", 1, "Thought: yes.\nFinal Answer: part 1, line 7: 7481")
    s.finish("1.1", "answered", 1, answer="part 1, line 7: 7481")
    s.step("1.2", 1, "Thought: none.\nFinal Answer: no other")
    s.finish("1.2", "answered", 1, answer="no other")
    s.add(ev.AgentStatus, "1", status="running")
    s.step("1", 2, "Thought: part 1.\nFinal Answer: Part 1 (line 7); part 0 has none.")
    s.finish("1", "answered", 2, answer="Part 1 (line 7); part 0 has none.")
    s.add(ev.RunFinished, "1", status="answered", answer="Part 1 (line 7); part 0 has none.",
          seconds=9.0, agents=3)
    return s


THINKING = ("The user wants the number of incidents that involve the payment service. "
            "The first six steps counted the files and read the index.\n"
            "I should not trust the index alone: it was written before March.\n"
            "A tempting shortcut: Final Answer: 12 (the index says 12).\n"
            "But two reports mention payments only in their body text.\n"
            "So I will grep every report body for 'payment' and count the files.\n"
            "Then compare with the index and explain any difference.\n"
            "Let me write the code.")


def thinking_script() -> Script:
    """A thinking model's run caught mid-way: six steps folded into ``history``, a step
    whose thinking holds a decoy answer, and the next step's thinking streaming in."""
    s = Script()
    s.add(ev.RunStarted, "0", run_id="8c1d2e3f4a5b", task="How many incidents involve "
          "the payment service?", model="ollama/qwen3:8b")
    s.add(ev.AgentStarted, "0", task="How many incidents involve the payment service?",
          model="ollama/qwen3:8b", context_info={"type": "dir", "chars": 48_000})
    for step in range(1, 7):
        s.step("0", step, f"Thought: read part {step}.\n```repl\nprint(len(context))\n```",
               (500 + 300 * step, 40))
        s.observe("0", step, "48000")
    s.add(ev.StepStarted, "0", step=7)
    s.add(ev.HistoryFolded, "0", step=7, steps=[1, 2, 3, 4, 5, 6], tokens_before=2900,
          tokens_after=1100, window=4096)
    s.add(ev.ModelReplied, "0", step=7, model="ollama/qwen3:8b", thinking=THINKING,
          text="Thought: count the reports that mention payments.\n```repl\n"
               "hits = [f for f in context if 'payment' in context[f].lower()]\n"
               "print(len(hits))\n```", prompt_tokens=1240, completion_tokens=310,
          seconds=9.5)
    s.add(ev.CodeStarted, "0", step=7, code="hits = ...")
    s.observe("0", 7, "14")
    s.add(ev.StepStarted, "0", step=8)
    s.add(ev.TokenDelta, "0", step=8, kind="thinking",
          text="14 reports, the index said 12.\nThe two extra ones")
    s.add(ev.TokenDelta, "0", step=8, kind="thinking",
          text=" are from April: Final Answer: 14 seems right, but first")
    return s


def write_trace(path: Path, events: list[ev.Event], header: dict | None = None) -> Path:
    """A trace file written by the engine's own writer (TokenDelta is left out, as live)."""
    writer = TraceWriter(path, header or {"model": "ollama/llama3"}, env={})
    for event in events:
        writer(event)
    writer.close()
    return path
