"""Live progress on stderr: plain lines off a terminal, a tree redrawn in place on one."""

from __future__ import annotations

import io
import re

from rlm import events as ev
from rlm.cli.progress import Progress, agent_line, tree_lines
from rlm.tree import TreeBuilder

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def feed(progress, clock_start: float = 100.0):
    """A small run: root, one child that answers, the root answers."""
    bus = ev.EventBus(clock=iter(range(int(clock_start), 10_000)).__next__)
    bus.subscribe(progress)
    root = {"agent_id": "0", "parent_id": None, "depth": 0}
    child = {"agent_id": "0.1", "parent_id": "0", "depth": 1}
    bus.emit(ev.RunStarted(agent_id="0", run_id="r1", task="Find it", model="m"))
    bus.emit(ev.AgentStarted(**root, task="Find it", model="m"))
    bus.emit(ev.StepStarted(**root, step=1))
    bus.emit(ev.TokenDelta(**root, step=1, text="Thought: look"))
    bus.emit(ev.TokenDelta(**root, step=1, text=" around"))
    bus.emit(ev.ModelReplied(**root, step=1, text="Thought: look around\n```repl\nx\n```",
                             model="m", prompt_tokens=1500, completion_tokens=20))
    bus.emit(ev.AgentStatus(**root, status="waiting"))
    bus.emit(ev.AgentStarted(**child, task="Read part one", model="m"))
    bus.emit(ev.StepStarted(**child, step=1))
    bus.emit(ev.ModelReplied(**child, step=1, text="Final Answer: 7", model="m",
                             prompt_tokens=10, completion_tokens=2))
    bus.emit(ev.AgentFinished(**child, status="answered", answer="7", steps=1))
    bus.emit(ev.AgentStatus(**root, status="running"))
    bus.emit(ev.Observation(**root, step=1, text="7"))
    bus.emit(ev.AgentFinished(**root, status="limit", answer="7", limit_hit="steps", steps=1))
    bus.emit(ev.RunFinished(agent_id="0", status="limit", answer="7", limit_hit="steps"))


def test_plain_lines_when_stderr_is_not_a_terminal():
    out = io.StringIO()
    progress = Progress(out)
    assert not progress.live
    feed(progress)
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        "rlm: run r1 with m",
        "[0] started at depth 0 (m): Find it",
        "[0] step 1",
        "[0.1] started at depth 1 (m): Read part one",
        "[0.1] step 1",
        "[0.1] answered after 1 step: answer: 7",
        "[0] limit (limit: steps) after 1 step: answer: 7",
    ]
    assert "\x1b" not in out.getvalue()


def test_verbose_plain_lines_show_every_agents_replies_and_observations():
    out = io.StringIO()
    progress = Progress(out, verbose=True)
    feed(progress)
    text = out.getvalue()
    assert "[0] step 1 reply (20 tok):\n    Thought: look around\n    ```repl\n" in text
    assert "[0.1] step 1 reply (2 tok):\n    Final Answer: 7" in text
    assert "[0] observation:\n    7\n" in text


def test_live_mode_redraws_the_tree_in_place():
    out = io.StringIO()
    progress = Progress(out, live=True, use_colour=False, interval=60, clock=lambda: 110.0)
    feed(progress)
    progress.flush()
    progress.close()
    text = out.getvalue()
    assert "\x1b[2F\x1b[J" in text  # moved up over the two-line tree and cleared it
    final = text.rsplit("\x1b[J", 1)[1].splitlines()
    assert final[0].startswith("! 0 ") and "limit" in final[0] and "Find it" in final[0]
    assert final[1].startswith("  + 0.1 ") and "answered" in final[1]
    assert "1.5k tok" in final[0]


def test_live_verbose_streams_the_roots_reply_below_the_tree():
    out = io.StringIO()
    progress = Progress(out, live=True, verbose=True, use_colour=False, interval=60)
    bus = ev.EventBus()
    bus.subscribe(progress)
    bus.emit(ev.AgentStarted(agent_id="0", task="t", model="m"))
    bus.emit(ev.StepStarted(agent_id="0", step=1))
    bus.emit(ev.TokenDelta(agent_id="0", step=1, text="Thought: first line\nsecond li"))
    progress.flush()
    assert out.getvalue().rstrip().endswith("0 > second li")
    progress.close()
    assert not out.getvalue().rstrip().endswith("second li")


def test_notes_appear_above_the_live_tree():
    out = io.StringIO()
    progress = Progress(out, live=True, use_colour=False, interval=60)
    bus = ev.EventBus()
    bus.subscribe(progress)
    bus.emit(ev.AgentStarted(agent_id="0", task="t", model="m"))
    progress.flush()
    progress.note("rlm: cancelling...")
    progress.flush()
    last = out.getvalue().rsplit("\x1b[1F\x1b[J", 1)[1]
    assert last.splitlines()[0] == "rlm: cancelling..."
    progress.close()


def test_colours_follow_status_and_lines_fit_the_width():
    builder = TreeBuilder()
    builder(ev.AgentStarted(agent_id="0", task="a very long task " * 20, model="m", ts=1.0))
    node = builder.nodes["0"]
    line = agent_line(node, now=3.0, width=60, use_colour=False)
    assert len(line) <= 60 and line.endswith("...") and "2.0s" in line
    coloured = agent_line(node, now=3.0, width=60, use_colour=True)
    assert coloured.startswith("\x1b[36m") and ANSI.sub("", coloured) == line


def test_a_big_tree_is_cut_to_the_screen_with_a_count():
    builder = TreeBuilder()
    builder(ev.AgentStarted(agent_id="0", task="root", model="m"))
    for i in range(1, 30):
        builder(ev.AgentStarted(agent_id=f"0.{i}", parent_id="0", depth=1, task="c", model="m"))
    lines = tree_lines(builder, now=0, width=80, use_colour=False, max_lines=10)
    assert len(lines) == 10 and lines[-1] == "  ... and 21 more agents"


def test_a_closed_stream_does_not_break_the_run():
    out = io.StringIO()
    progress = Progress(out)
    out.close()
    feed(progress)  # must not raise


THINKING = "\n".join(["I must count the reports.", "The index says 12.",
                      "Tempting: Final Answer: 12", "But two reports are missing from it.",
                      "So I count the files.", "Then I compare.", "Let me write it."])


def thinking_run(progress):
    """One step of a thinking model, after a fold; its thinking holds a decoy answer."""
    bus = ev.EventBus()
    bus.subscribe(progress)
    root = {"agent_id": "0", "parent_id": None, "depth": 0}
    bus.emit(ev.AgentStarted(**root, task="Count", model="m"))
    bus.emit(ev.StepStarted(**root, step=7))
    bus.emit(ev.HistoryFolded(**root, step=7, steps=[1, 2, 3, 4, 5, 6], tokens_before=2900,
                              tokens_after=1100, window=4096))
    bus.emit(ev.TokenDelta(**root, step=7, text="Tempting: Final Answer: 12", kind="thinking"))
    bus.emit(ev.ModelReplied(**root, step=7, text="Thought: counted.\nFinal Answer: 14",
                             model="m", completion_tokens=30, thinking=THINKING))
    bus.emit(ev.AgentFinished(**root, status="answered", answer="14", steps=7))
    return bus


FOLD = ("[0] history folded: steps 1-6 moved to `history` (2,900 -> 1,100 tokens, "
        "window 4,096)")


def test_a_history_fold_is_one_plain_line_even_without_verbose():
    out = io.StringIO()
    thinking_run(Progress(out))
    lines = out.getvalue().splitlines()
    assert lines[lines.index("[0] step 7") + 1] == FOLD
    assert "thinking" not in out.getvalue() and "Tempting" not in out.getvalue()


def test_the_live_tree_stays_clean_of_folds_unless_verbose():
    quiet, verbose = io.StringIO(), io.StringIO()
    for out, loud in ((quiet, False), (verbose, True)):
        progress = Progress(out, live=True, verbose=loud, use_colour=False, interval=60)
        thinking_run(progress)
        progress.close()
    assert "history folded" not in quiet.getvalue()
    assert FOLD in verbose.getvalue().splitlines()


def test_verbose_prints_thinking_dimmed_cut_and_before_the_reply():
    out = io.StringIO()
    thinking_run(Progress(out, verbose=True, use_colour=True))
    lines = out.getvalue().splitlines()
    start = lines.index("\x1b[2m[0] step 7 thinking (163 chars, not the reply):\x1b[0m")
    reply = lines.index("[0] step 7 reply (30 tok):")
    thinking = lines[start + 1:reply]
    assert [ANSI.sub("", line) for line in thinking] == [
        "    | I must count the reports.", "    | The index says 12.",
        "    | Tempting: Final Answer: 12", "    | But two reports are missing from it.",
        "    | ... 3 more lines of thinking (the trace has them)"]
    assert all(line.startswith("\x1b[2m") for line in thinking)  # dimmed
    assert lines[reply + 1:reply + 3] == ["    Thought: counted.", "    Final Answer: 14"]
    decoys = [line for line in lines if "Final Answer: 12" in line]
    assert decoys == [thinking[2]]  # only ever inside the thinking


def test_live_verbose_streams_thinking_on_its_own_line_never_as_the_reply():
    out = io.StringIO()
    progress = Progress(out, live=True, verbose=True, use_colour=False, interval=60)
    bus = ev.EventBus()
    bus.subscribe(progress)
    bus.emit(ev.AgentStarted(agent_id="0", task="t", model="m"))
    bus.emit(ev.StepStarted(agent_id="0", step=1))
    bus.emit(ev.TokenDelta(agent_id="0", step=1, text="Hmm.\nFinal Answer: 99?", kind="thinking"))
    progress.flush()
    last = out.getvalue().rstrip().splitlines()[-1]
    assert last == "  0 thinking: Final Answer: 99?"
    bus.emit(ev.TokenDelta(agent_id="0", step=1, text="Thought: it is 42"))
    progress.flush()
    assert out.getvalue().rstrip().splitlines()[-1] == "  0 > Thought: it is 42"
    assert "0 > Final Answer: 99" not in out.getvalue() and "0 > Hmm" not in out.getvalue()
    progress.close()


def test_a_call_that_waits_is_said_with_its_seconds():
    out = io.StringIO()
    progress = Progress(out, live=False)
    bus = ev.EventBus(clock=iter(range(100, 10_000)).__next__)
    bus.subscribe(progress)
    root = {"agent_id": "0", "parent_id": None, "depth": 0}
    bus.emit(ev.AgentStarted(**root, task="Find it", model="m"))
    bus.emit(ev.StepStarted(**root, step=1))
    bus.emit(ev.ModelWaiting(**root, step=1, model="ollama/big", seconds=5.2, since=95.0))
    assert "[0] waiting for the model: 5 s (ollama/big)" in out.getvalue()
    node = progress.tree.nodes["0"]
    line = agent_line(node, now=107.0, width=100, use_colour=False)
    assert "waiting for the model: 12 s  Find it" in line
    bus.emit(ev.TokenDelta(**root, step=1, text="Thought"))  # the first piece ends the wait
    assert "waiting" not in agent_line(node, now=108.0, width=100, use_colour=False)
