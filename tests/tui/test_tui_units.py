"""The TUI's plain parts: labels, totals, the event bridge, run state, context checks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rlm import events as ev
from rlm.tree import AgentNode
from tests.servers.ollama import OllamaServer
from tests.servers.ollama_models import FakeModel
from tests.tui.test_tui_support import T0, FixedClock, Script, in_progress_script
from tui.bridge import EngineEvents, EventBridge
from tui.context_check import check_context
from tui.discovery import discover_models
from tui.render import (
    STATUS_MARKS,
    count_totals,
    human_seconds,
    human_tokens,
    summary_line,
    totals_line,
)
from tui.rows import agent_header, agent_label
from tui.runner import Conversation, RunHandle, RunRequest, TraceNamer, new_trace_path
from tui.state import RunState


def node(status="running", **fields) -> AgentNode:
    values = dict(agent_id="0.2", parent_id="0", depth=1, task="Find the magic number in "
                  "part two of the book", status=status, steps=3, started=T0)
    values.update(fields)
    agent = AgentNode(**values)
    agent.usage.record("m", 1000, 234, 0.0)
    return agent


@pytest.mark.parametrize("status", list(STATUS_MARKS))
def test_every_status_has_its_own_mark(status):
    label = agent_label(node(status), T0 + 5, width=100).plain
    assert label.startswith(STATUS_MARKS[status][0] + " 0.2 d1 Find the magic number")
    assert label.endswith("3 steps · 1.2k tok · 5.0s")  # the figures stand at the right
    assert len({mark for mark, _ in STATUS_MARKS.values()}) == 6


def test_a_narrow_row_shrinks_its_figures_before_its_task_and_never_cuts_a_number():
    agent = node()
    rows = {width: agent_label(agent, T0 + 5, width).plain for width in range(12, 121)}
    assert all(len(row) <= width for width, row in rows.items())
    assert all(len(row) == width for width, row in rows.items() if "s" in row[-1])  # figures
    assert rows[120].startswith("● 0.2 d1 Find the magic number in part two of the book ")
    # The whole task with full, compact, fewer figures, the time alone; a task longer than
    # that keeps compact figures.
    assert rows[80].endswith("of the book    3 steps · 1.2k tok · 5.0s")
    assert rows[71].endswith("of the book  3 st · 1.2k · 5.0s")
    assert rows[65].endswith("of the book   3 st · 5.0s")
    assert rows[60] == "● 0.2 Find the magic number in part two of the book     5.0s"
    assert rows[55] == "● 0.2 Find the magic number in par…  3 st · 1.2k · 5.0s"
    assert rows[50] == "● 0.2 Find the magic number i…  3 st · 1.2k · 5.0s"
    assert rows[40] == "● 0.2 Find the magic number in pa…  5.0s"
    assert rows[30] == "● 0.2 Find the magic number i…"
    figures = ("3 steps · 1.2k tok · 5.0s", "3 st · 1.2k · 5.0s", "3 st · 5.0s", "5.0s")
    for row in rows.values():  # a figure is whole, or not there
        tail = row.rsplit("  ", 1)[-1]
        assert tail in figures or "…" in tail or tail.endswith("book"), row


def test_a_row_says_why_an_agent_stopped_and_the_header_says_it_all():
    failed = node("failed", error="ProviderError: the server answered 500", finished=T0 + 2)
    for width in (30, 40, 60, 100):
        assert agent_label(failed, T0 + 99, width).cell_len <= width
    wide = agent_label(failed, T0 + 99, 130).plain
    assert "part two of the book  ProviderError: the server answered 500  " in wide
    assert wide.endswith("3 steps · 1.2k tok · 2.0s")
    assert "the server answered…    3 steps" in agent_label(failed, T0 + 99, 120).plain
    assert agent_label(failed, T0 + 99, 70).plain.endswith("…  ProviderError…  3 st · 1.2k · 2.0s")
    assert agent_label(node("limit", limit_hit="tokens"), T0, 100).plain.split("  ")[1] == \
        "tokens limit"
    title, subtitle = agent_header(failed, T0 + 99)
    assert title == "✗ agent 0.2 · depth 1 · failed: ProviderError: the server answered 500"
    assert subtitle == "3 steps · 1,234 tokens · 2.0s"


def test_human_figures():
    assert [human_tokens(n) for n in (999, 1234, 12_345, 2_500_000)] == \
        ["999", "1.2k", "12k", "2.5M"]
    assert [human_seconds(s) for s in (0.42, 12.4, 65, 3725)] == \
        ["0.4s", "12s", "1m05s", "1h02m"]


def test_totals_count_agents_by_state():
    agents = [node("running"), node("waiting"), node("answered"), node("limit"),
              node("failed"), node("cancelled")]
    totals = count_totals(agents, 12.0)
    assert (totals.agents, totals.running, totals.done, totals.failed, totals.cancelled) == \
        (6, 2, 2, 1, 1)
    assert totals.prompt_tokens == 6000 and totals.steps == 18
    line = totals_line(totals, "running").plain
    assert line.startswith("running  ● 2 running  ✓ 2 done  ✗ 1 failed  ⊘ 1 cancelled")
    assert "6.0k in · 1.4k out" in line and line.endswith("$0  │  12s")
    # Narrower, the words go before any figure does.
    assert totals_line(totals, "running", 76).plain == \
        "running  ● 2  ✓ 2  ✗ 1  ⊘ 1  │  6.0k in · 1.4k out  │  $0  │  12s"
    assert totals_line(totals, "running", 50).plain == \
        "running  ● 2  ✓ 2  ✗ 1  ⊘ 1 │ 7.4k tok │ $0 │ 12s"
    assert summary_line(totals) == ("6 agents · 18 steps · 7,404 tokens (6,000 in / 1,404 "
                                    "out) · $0 · 12s")


def test_bridge_batches_events_in_order_and_merges_token_deltas():
    posted: list[EngineEvents] = []
    bridge = EventBridge(posted.append, run_no=7)
    s = Script()
    s.add(ev.StepStarted, "0", step=1)
    for piece in ("Thou", "ght: ", "hi"):
        s.add(ev.TokenDelta, "0", step=1, text=piece)
    s.add(ev.TokenDelta, "0.1", step=1, text="other")
    s.add(ev.ModelReplied, "0", step=1, text="Thought: hi", model="m")
    for event in s.events:
        bridge(event)
    assert len(posted) == 1  # one open batch until the UI takes it
    events = bridge.take(posted[0])
    assert [e.type for e in events] == ["StepStarted", "TokenDelta", "TokenDelta",
                                        "ModelReplied"]
    assert events[1].text == "Thought: hi" and events[2].text == "other"
    assert s.events[1].text == "Thou"  # the engine's own event is not changed
    bridge(s.events[0])
    assert len(posted) == 2 and posted[1].run_no == 7  # a taken batch is closed


def test_bridge_keeps_every_event_from_many_threads():
    posted: list[EngineEvents] = []
    bridge = EventBridge(posted.append, run_no=1)
    taken: list[ev.Event] = []

    def emit(agent: str) -> None:
        for i in range(500):
            bridge(ev.Observation(agent_id=agent, step=i, text=str(i)))

    threads = [threading.Thread(target=emit, args=(f"0.{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads) or posted:
        if posted:
            taken += bridge.take(posted.pop(0))
    assert len(taken) == 2000
    for n in range(4):
        assert [e.step for e in taken if e.agent_id == f"0.{n}"] == list(range(500))


def test_run_state_follows_the_agent_that_works_and_ignores_late_status():
    state = RunState(FixedClock(T0 + 30))
    applied = state.apply(in_progress_script().events)
    assert [a.agent_id for a in applied.new_agents] == ["0", "0.1", "0.2", "0.3", "0.4",
                                                       "0.2.1"]
    assert state.active == "0.2.1"  # 0.4 finished; 0.2.1 is the last one still running
    assert state.stream_text("0.2.1").text == "Thought: the number is 7481. Final Ans"
    s = Script(T0 + 40)
    s.add(ev.AgentFinished, "0.2.1", status="cancelled", steps=2)
    s.add(ev.AgentStatus, "0.2.1", status="running")  # late, from a cancelled wait
    state.apply(s.events)
    assert state.node("0.2.1").status == "cancelled"
    assert state.stream_text("0.2.1") is None


def test_replayed_time_stops_at_the_last_event():
    events = in_progress_script().events
    state = RunState.replay({}, events, clock=FixedClock(T0 + 9999))
    assert state.now() == events[-1].ts
    assert state.run_seconds() == pytest.approx(events[-1].ts - events[0].ts)


def test_context_check_says_what_is_wrong(tmp_path):
    assert check_context("").ok and check_context("").path is None
    missing = check_context(str(tmp_path / "nope.txt"))
    assert not missing.ok and "There is no file or folder" in missing.message
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(bytes(range(256)) * 10)
    assert "looks binary" in check_context(str(binary)).message
    text = tmp_path / "book.txt"
    text.write_text("é" * 40_000)  # multi-byte characters cut by the sample are still text
    assert check_context(str(text)).ok
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("hello")
    (folder / "b.bin").write_bytes(b"\0\1\2")
    check = check_context(str(folder))
    assert check.ok and "1 text file(s)" in check.message and "1 binary" in check.message
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "has no text files" in check_context(str(empty)).message


def test_discovery_lists_the_pulled_models(ollama_server):
    found = discover_models({"OLLAMA_HOST": ollama_server.url})
    assert [c.model for c in found.choices] == ["ollama_chat/llama3:latest"]
    assert found.choices[0].source == "ollama"
    assert any("No hosted provider key" in note for note in found.notes)


def test_the_picker_gives_the_running_window_and_can_think(model_env):
    models = (FakeModel("llama3.1:8b", context_length=131_072),
              FakeModel("qwen3:8b", family="qwen3", thinking=True, context_length=40_960),
              FakeModel("llama3:latest"))
    with OllamaServer(models=models) as server:
        found = discover_models({"OLLAMA_HOST": server.url, "RLM_NUM_CTX": "16384"})
        details = {c.model: c.detail for c in found.choices}
        assert details == {
            "ollama_chat/llama3.1:8b": "8.0B, 4.7 GB, runs at 16,384 of 131,072 tokens",
            "ollama_chat/qwen3:8b": "8.0B, 4.7 GB, runs at 16,384 of 40,960 tokens, can think",
            "ollama_chat/llama3:latest": "8.0B, 4.7 GB, runs at its full 8,192 tokens"}
        broken = discover_models({"OLLAMA_HOST": server.url, "RLM_NUM_CTX": "lots"})
        assert any("RLM_NUM_CTX" in note and "default settings" in note for note in broken.notes)


def test_the_picker_window_follows_this_machines_memory(model_env, monkeypatch):
    monkeypatch.setattr("rlm.llm.ollama.memory_bytes", lambda: 16 * 2 ** 30)
    with OllamaServer(models=(FakeModel("llama3.1:8b", context_length=131_072),)) as server:
        [choice] = discover_models({"OLLAMA_HOST": server.url}).choices
    # 8 GiB minus 4.7 GB of weights leave room for 25,000 tokens of 128 KiB: 16,384.
    assert choice.detail == "8.0B, 4.7 GB, runs at 16,384 of 131,072 tokens"


def test_discovery_reports_an_unreachable_ollama(closed_url):
    found = discover_models({"OLLAMA_HOST": closed_url})
    assert found.choices == []
    assert any("Ollama is not running" in note and "ollama serve" in note
               for note in found.notes)


def test_trace_is_named_by_time_and_run_id(tmp_path):
    path = new_trace_path(tmp_path, now=T0)
    assert path.name.startswith("tui-2025") and path.suffix == ".jsonl"
    path.write_text("{}\n")
    namer = TraceNamer(path)
    namer(ev.RunStarted(run_id="abc123def456", task="t", model="m"))
    assert namer.path.name == f"{path.name.rsplit('-', 1)[0]}-abc123def456.jsonl"
    assert namer.path.exists() and not path.exists()


class FakeSession:
    """A session that records what the conversation asks of it."""

    def __init__(self, fail: Exception | None = None):
        self.fail, self.asked, self.closed, self.cancelled = fail, [], 0, 0
        self.settings = None
        self.subscribers = []

    def session(self, context=None, *, trace=None):
        self.asked.append(("open", context))
        return self

    def subscribe(self, fn):
        self.subscribers.append(fn)
        return lambda: self.subscribers.remove(fn)

    def emit(self, event):
        for subscriber in self.subscribers:
            subscriber(event)

    def cancel(self):
        self.cancelled += 1

    def stop_agent(self, agent_id):
        self.asked.append(("stop", agent_id))

    def close(self):
        self.closed += 1

    def ask(self, question, context=None, *, keep="replace"):
        if self.fail is not None:
            raise self.fail
        self.asked.append((question, context))
        return object()


def test_a_conversation_keeps_its_session_and_turns_any_error_into_a_message(tmp_path):
    built = []

    def factory(request):
        built.append(FakeSession(KeyError("boom") if not built else None))
        return built[-1]

    chat = Conversation(factory, None)
    ended = chat.ask(RunRequest("q"), EventBridge(lambda m: None, 3), handle := RunHandle())
    assert ended.run_no == 3 and ended.error_kind == "KeyError" and handle.done.is_set()
    assert ended.error.startswith("Unexpected KeyError") and built[0].closed == 1
    # Nothing ran, so the next question builds the engine afresh; then the session stays.
    book = tmp_path / "book.txt"
    for question, context in (("one", None), ("two", None), ("three", str(book))):
        chat.ask(RunRequest(question, context), EventBridge(lambda m: None, 4), RunHandle())
    assert built[1].asked == [("open", None), ("one", None), ("two", None),
                              ("three", book)]
    assert len(built) == 2 and chat.turns == 3
    # An event that comes after its turn ended (a stopped child's last one) still reaches
    # the screen, under the latest question's number.
    posted = []
    chat.ask(RunRequest("four"), EventBridge(posted.append, 5), RunHandle())
    built[1].emit(ev.AgentFinished(agent_id="3.1", status="cancelled"))
    assert [batch.run_no for batch in posted] == [5] and len(posted[0].events) == 1
    chat.close()
    assert built[1].closed == 1


def test_cancel_before_the_session_exists_reaches_it_and_a_stop_needs_a_turn():
    session = FakeSession()
    handle = RunHandle()
    assert not handle.stop_agent("0.1")
    handle.cancel()
    handle.attach(session)
    assert session.cancelled == 1
    assert handle.stop_agent("0.1") and session.asked == [("stop", "0.1")]
    handle.done.set()  # the turn ended: nothing reaches the session any more
    handle.cancel()
    assert not handle.stop_agent("0.2") and session.cancelled == 1


def test_the_command_line():
    from tui.args import parse_args

    args = parse_args(["What is it?", "--context", "book.txt", "--model", "ollama/llama3",
                       "--max-depth", "1"])
    assert (args.question, args.context, args.model, args.max_depth, args.replay) == \
        ("What is it?", "book.txt", "ollama/llama3", 1, None)
    assert parse_args(["--replay", "t.jsonl"]).replay == "t.jsonl"
    with pytest.raises(SystemExit):
        parse_args(["--max-steps", "0"])


RUN_FLAGS = ["--profile", "hybrid", "--sub-model", "groq/llama-3.1-8b-instant",
             "--api-base", "http://127.0.0.1:9", "--max-depth", "1", "--max-steps", "7",
             "--action-timeout", "12"]


def test_rlm_tui_takes_rlm_runs_flags_and_resolves_them_the_same_way(monkeypatch):
    from rlm.cli.main import build_parser
    from rlm.cli.plan import settings_of
    from tui.args import parse_args, settings_flags
    from tui.runner import RunRequest
    from tui.settings import resolve

    monkeypatch.setenv("RLM_MAX_STEPS", "9")  # the environment loses to the flags
    monkeypatch.setenv("RLM_MODEL", "ollama/llama3")
    ours = parse_args(["Q", *RUN_FLAGS])
    theirs = build_parser().parse_args(["run", "Q", *RUN_FLAGS])
    request = RunRequest("Q", model=ours.model, max_depth=ours.max_depth,
                         max_steps=ours.max_steps, profile=ours.profile,
                         flags=settings_flags(ours))
    settings, profile = resolve(request.profile, request.settings())
    assert settings == settings_of(theirs)[0]
    assert profile is not None and profile.name == "hybrid"
    assert (settings.sub_model, settings.api_base, settings.action_timeout,
            settings.max_steps, settings.max_agents) == \
        ("groq/llama-3.1-8b-instant", "http://127.0.0.1:9", 12.0, 7, 30)  # 30: the profile's


def test_a_bad_profile_is_a_usage_error_before_the_screen_opens(capsys):
    from tui.start import main

    assert main(["--profile", "no-such-profile"]) == 2
    assert "Unknown profile 'no-such-profile'" in capsys.readouterr().err


def test_a_follow_up_takes_the_model_and_limits_picked_since(monkeypatch):
    from rlm import RLM
    from rlm.llm.scripted import ScriptedModel

    monkeypatch.delenv("RLM_MAX_STEPS", raising=False)
    seen = []

    def reply(messages, model):
        seen.append(model)
        return "Final Answer: ok"
    engines = []

    def factory(request):
        engines.append(RLM(model=request.model, max_steps=request.max_steps,
                           client=ScriptedModel(reply), env={}))
        return engines[-1]
    chat = Conversation(factory, None)
    bridge = EventBridge(lambda m: None, 1)
    chat.ask(RunRequest("one", model="scripted/a", max_steps=5), bridge, RunHandle())
    chat.ask(RunRequest("two", model="scripted/b", max_steps=5), bridge, RunHandle())
    assert engines[0].settings.model == "scripted/b" and seen == ["scripted/a", "scripted/b"]
    chat.ask(RunRequest("three", model="scripted/b"), bridge, RunHandle())
    assert engines[0].settings.max_steps == 20  # back to the default it would have
    assert len(engines) == 1
    chat.close()


def test_rlm_never_imports_tui():
    for path in Path("rlm").rglob("*.py"):
        text = path.read_text()
        assert "import tui" not in text and "from tui" not in text, path


def test_the_picker_uses_a_profiles_num_ctx_for_the_model_it_hands_over(model_env, monkeypatch):
    from rlm.config import Settings

    # RLM_NUM_CTX=16384 and a profile's [num_ctx] line for this model: the line wins.
    settings = Settings(num_ctx=16384, model_num_ctx={"ollama_chat/llama3.1:8b": 8192})
    monkeypatch.setattr(Settings, "resolve", classmethod(lambda cls, env=None: settings))
    models = (FakeModel("llama3.1:8b", context_length=131_072),
              FakeModel("qwen3:8b", family="qwen3", context_length=40_960))
    with OllamaServer(models=models) as server:
        found = discover_models({"OLLAMA_HOST": server.url})
    assert [c.detail for c in found.choices] == [
        "8.0B, 4.7 GB, runs at 8,192 of 131,072 tokens",
        "8.0B, 4.7 GB, runs at 16,384 of 40,960 tokens"]


def test_a_waiting_call_shows_in_its_agents_row_with_the_seconds():
    waiting = node(waiting_since=T0 + 1, waiting_for="reply")
    assert agent_label(waiting, T0 + 13, width=120).plain.endswith("waiting for the model: 12 s")
    slot = node(waiting_since=T0, waiting_for="slot")
    assert "waiting for a slot of its server: 3 s" in agent_label(slot, T0 + 3, 120).plain


def test_the_dotenv_file_is_read_only_where_there_is_one(monkeypatch, tmp_path):
    import dotenv

    import tui.start

    folder = tmp_path / "pkg"
    folder.mkdir()
    if any((parent / ".env").exists() for parent in tmp_path.parents):
        pytest.skip("a .env above the temporary folder")
    calls: list[int] = []
    monkeypatch.setattr(dotenv, "load_dotenv", lambda: calls.append(1))
    monkeypatch.setattr(tui.start, "__file__", str(folder / "start.py"))
    monkeypatch.chdir(folder)
    tui.start._load_dotenv()
    assert calls == []  # no .env where load_dotenv looks: not even imported in main
    (tmp_path / ".env").write_text("RLM_MAX_STEPS=3\n")
    tui.start._load_dotenv()
    assert calls == [1]
