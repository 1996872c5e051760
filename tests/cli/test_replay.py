"""``rlm replay``: a complete and a cut-off trace, and the official-format export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlm import events as ev
from rlm.cli.official import write_official
from rlm.cli.replay import ReplayOptions, render_replay
from rlm.errors import ConfigError
from rlm.trace import TraceWriter, open_trace
from rlm.trace.steps import agent_steps

ROOT_CODE = 'hits = [l for l in context.splitlines() if "magic" in l]\nprint(hits)'
CHILD_CODE = "print(len(context))"


def write_trace(path: Path) -> Path:
    """A run as the engine writes it: root with two steps, one llm_query and one child."""
    clock = iter(range(1000, 2000))
    bus = ev.EventBus(clock=lambda: float(next(clock)))
    writer = TraceWriter(path, {"model": "ollama/llama3", "settings": {"max_depth": 2}}, env={})
    bus.subscribe(writer)
    settings = {"model": "ollama/llama3", "sub_model": "ollama/qwen", "max_depth": 2,
                "max_steps": 20, "action_timeout": 60.0, "memory_mb": 4096,
                "allow_network": False}
    root = {"agent_id": "0", "parent_id": None, "depth": 0}
    child = {"agent_id": "0.1", "parent_id": "0", "depth": 1}
    emit = bus.emit
    emit(ev.RunStarted(agent_id="0", run_id="run123", task="What is the magic number?",
                       model="ollama/llama3", settings=settings))
    emit(ev.AgentStarted(**root, task="What is the magic number?", model="ollama/llama3",
                         context_info={"type": "str", "chars": 5000, "preview": "a b c"}))
    emit(ev.StepStarted(**root, step=1))
    emit(ev.ModelReplied(**root, step=1, model="ollama/llama3", prompt_tokens=300,
                         completion_tokens=40, seconds=1.5,
                         text=f"Thought: search it.\n```repl\n{ROOT_CODE}\n```"))
    emit(ev.CodeStarted(**root, step=1, code=ROOT_CODE))
    emit(ev.SubCall(**root, kind="llm_query", prompt="Is 4711 a number?", answer="yes",
                    model="ollama/qwen", prompt_tokens=12, completion_tokens=1, seconds=0.2))
    emit(ev.AgentStarted(**child, task="Count the characters", model="ollama/qwen",
                         context_info={"type": "str", "chars": 20}))
    emit(ev.StepStarted(**child, step=1))
    emit(ev.ModelReplied(**child, step=1, model="ollama/qwen", prompt_tokens=100,
                         completion_tokens=20, text=f"Thought: count.\n```repl\n{CHILD_CODE}\n```"))
    emit(ev.CodeStarted(**child, step=1, code=CHILD_CODE))
    emit(ev.Observation(**child, step=1, text="20", seconds=0.01))
    emit(ev.StepStarted(**child, step=2))
    emit(ev.ModelReplied(**child, step=2, model="ollama/qwen", prompt_tokens=130,
                         completion_tokens=10, text="Thought: done.\nFinal Answer: 20"))
    emit(ev.AgentFinished(**child, status="answered", answer="20", steps=2))
    emit(ev.SubCall(**root, kind="rlm_query", prompt="Count the characters", answer="20",
                    child_id="0.1", model="ollama/qwen", seconds=3.0))
    emit(ev.Observation(**root, step=1, text="['The magic number is 4711.']", seconds=3.2))
    emit(ev.StepStarted(**root, step=2))
    emit(ev.ModelReplied(**root, step=2, model="ollama/llama3", prompt_tokens=400,
                         completion_tokens=15, text="Thought: found it.\nFinal Answer: 4711"))
    emit(ev.AgentFinished(**root, status="answered", answer="4711", steps=2))
    emit(ev.RunFinished(agent_id="0", status="answered", answer="4711", seconds=12.5,
                        agents=2))
    writer.close()
    return path


def cut_off(source: Path, dest: Path, keep_lines: int) -> Path:
    """The first ``keep_lines`` lines of a trace plus a torn half line (a killed run)."""
    lines = source.read_text().splitlines(keepends=True)
    dest.write_text("".join(lines[:keep_lines]) + lines[keep_lines][: len(lines[keep_lines]) // 2])
    return dest


@pytest.fixture
def trace(tmp_path) -> Path:
    return write_trace(tmp_path / "run.jsonl")


def test_steps_tie_subcalls_to_the_code_block_that_made_them(trace):
    _, builder = open_trace(trace)
    steps = agent_steps(builder.nodes["0"])
    assert [s.step for s in steps] == [1, 2]
    assert [call.kind for _, call in steps[0].subcalls] == ["llm_query", "rlm_query"]
    assert {block for block, _ in steps[0].subcalls} == {0}
    assert steps[0].observation.text == "['The magic number is 4711.']"
    assert steps[1].code == [] and steps[1].reply.text.endswith("Final Answer: 4711")


def test_replay_of_a_complete_trace_shows_tree_steps_and_answers(trace):
    header, builder = open_trace(trace)
    text = render_replay(header, builder)
    assert "Run run123" in text and "model ollama/llama3" in text
    assert "Status: answered in 12.5 s; 2 agents, 4 steps" in text
    assert "Answer: 4711" in text
    tree = text.split("Agents:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert tree[0].startswith("+ 0 ") and "answered" in tree[0]
    assert tree[1].startswith("  + 0.1 ") and "Count the characters" in tree[1]
    assert "llm_query -> ollama/qwen: 'Is 4711 a number?' -> 'yes'" in text
    assert "rlm_query -> agent 0.1: 'Count the characters' -> '20'" in text
    assert "| hits = [l for l in context.splitlines() if \"magic\" in l]" in text
    assert "Agent 0.1 (depth 1, ollama/qwen): answered" in text
    assert "Cut off" not in text


def test_replay_of_a_cut_off_trace_goes_as_far_as_the_trace(trace, tmp_path):
    lines = trace.read_text().splitlines()
    child_started = next(i for i, line in enumerate(lines) if '"CodeStarted"' in line
                         and '"0.1"' in line)
    cut = cut_off(trace, tmp_path / "cut.jsonl", child_started + 1)
    header, builder = open_trace(cut)
    text = render_replay(header, builder)
    assert "Cut off: the trace ends before the run finished" in text
    assert "Status:" not in text and "Answer: 4711" not in text
    assert "Agent 0 (depth 0, ollama/llama3): running (no end recorded)" in text
    assert "Agent 0.1 (depth 1, ollama/qwen): running (no end recorded)" in text
    assert "| print(len(context))" in text


def test_a_file_that_is_not_a_trace_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello\n")
    with pytest.raises(ConfigError, match="holds no run"):
        open_trace(junk)
    with pytest.raises(ConfigError, match="does not exist"):
        open_trace(tmp_path / "missing.jsonl")


def test_replay_can_focus_on_one_agent(trace):
    header, builder = open_trace(trace)
    text = render_replay(header, builder, ReplayOptions(agent="0.1"))
    assert "Agent 0.1 " in text and "Agent 0 (" not in text
    with pytest.raises(ConfigError, match="No agent '9'"):
        render_replay(header, builder, ReplayOptions(agent="9"))


THINKING = "\n".join(["I must count the reports.", "The index says 12.",
                      "Tempting: Final Answer: 12", "But two reports are missing from it.",
                      "So I count the files.", "Then I compare."])


def write_thinking_trace(path: Path) -> Path:
    """A thinking model's run: step 3's call came after a fold, its thinking holds a decoy."""
    clock = iter(range(1000, 2000))
    bus = ev.EventBus(clock=lambda: float(next(clock)))
    writer = TraceWriter(path, {"model": "ollama/qwen3:8b"}, env={})
    bus.subscribe(writer)
    root = {"agent_id": "0", "parent_id": None, "depth": 0}
    bus.emit(ev.RunStarted(agent_id="0", run_id="think1", task="Count", model="ollama/qwen3:8b"))
    bus.emit(ev.AgentStarted(**root, task="Count the payment incidents", model="ollama/qwen3:8b"))
    bus.emit(ev.StepStarted(**root, step=3))
    bus.emit(ev.HistoryFolded(**root, step=3, steps=[1, 2], tokens_before=2900,
                              tokens_after=1100, window=4096))
    bus.emit(ev.ModelReplied(**root, step=3, model="ollama/qwen3:8b", prompt_tokens=1100,
                             completion_tokens=90, thinking=THINKING,
                             text="Thought: counted them.\nFinal Answer: 14"))
    bus.emit(ev.AgentFinished(**root, status="answered", answer="14", steps=3))
    bus.emit(ev.RunFinished(agent_id="0", status="answered", answer="14", seconds=4.0))
    writer.close()
    return path


def test_replay_shows_folds_and_thinking_apart_from_the_reply(tmp_path):
    header, builder = open_trace(write_thinking_trace(tmp_path / "think.jsonl"))
    lines = render_replay(header, builder).splitlines()
    step = lines.index("  step 3: 1100 tok in, 90 out")
    assert lines[step - 1] == ("  history folded: steps 1-2 moved to `history` (2,900 -> 1,100 "
                               "tokens, window 4,096)")
    assert lines[step + 1:step + 7] == [
        "    thinking (not the reply):", "      | I must count the reports.",
        "      | The index says 12.", "      | Tempting: Final Answer: 12",
        "      | But two reports are missing from it.",
        "      | ... 2 more lines (--full shows all)"]
    assert lines[step + 7:step + 11] == ["    thought:", "      | counted them.",
                                         "    final answer:", "      | 14"]
    assert "Answer: 14" in lines and not any("12" in line for line in lines
                                             if line.startswith(("Answer", "  Answer")))
    full = render_replay(header, builder, ReplayOptions(full=True))
    assert "      | Then I compare." in full and "--full shows all" not in full


# --- the official visualizer's format ---------------------------------------------------
def test_official_export_has_a_metadata_line_then_one_line_per_root_iteration(trace, tmp_path):
    header, builder = open_trace(trace)
    out = tmp_path / "official.jsonl"
    assert write_official(header, builder, out) == 2
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    meta, first, second = lines
    assert meta["type"] == "metadata"
    for key in ("timestamp", "root_model", "max_depth", "max_iterations", "backend",
                "backend_kwargs", "environment_type", "environment_kwargs", "other_backends"):
        assert key in meta
    assert (meta["root_model"], meta["max_depth"], meta["max_iterations"]) == (
        "ollama/llama3", 2, 20)
    assert meta["other_backends"] == ["ollama/qwen"]
    assert [line["type"] for line in (first, second)] == ["iteration", "iteration"]
    assert [line["iteration"] for line in (first, second)] == [1, 2]
    for line in (first, second):
        assert set(line) >= {"timestamp", "prompt", "response", "code_blocks",
                             "final_answer", "iteration_time"}
    assert first["final_answer"] is None and second["final_answer"] == "4711"
    assert second["code_blocks"] == []


def test_official_export_prompt_is_the_history_the_model_saw(trace, tmp_path):
    header, builder = open_trace(trace)
    out = tmp_path / "official.jsonl"
    write_official(header, builder, out)
    _, first, second = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["role"] for m in first["prompt"]] == ["system", "user"]
    assert "What is the magic number?" in first["prompt"][1]["content"]
    assert [m["role"] for m in second["prompt"]] == ["system", "user", "assistant", "user"]
    assert second["prompt"][2]["content"] == first["response"]
    assert second["prompt"][3]["content"] == "Observation: ['The magic number is 4711.']"


def test_official_export_nests_sub_calls_and_child_trajectories(trace, tmp_path):
    header, builder = open_trace(trace)
    out = tmp_path / "official.jsonl"
    write_official(header, builder, out)
    first = json.loads(out.read_text().splitlines()[1])
    (block,) = first["code_blocks"]
    assert block["code"] == ROOT_CODE
    result = block["result"]
    assert set(result) == {"stdout", "stderr", "locals", "execution_time", "rlm_calls"}
    assert result["stdout"] == "['The magic number is 4711.']" and result["stderr"] == ""
    plain, child = result["rlm_calls"]
    assert (plain["prompt"], plain["response"], plain["root_model"]) == (
        "Is 4711 a number?", "yes", "ollama/qwen")
    assert plain["usage_summary"] == {"model_usage_summaries": {"ollama/qwen": {
        "total_calls": 1, "total_input_tokens": 12, "total_output_tokens": 1,
        "total_cost": 0.0}}}
    assert "metadata" not in plain
    assert (child["prompt"], child["response"]) == ("Count the characters", "20")
    nested = child["metadata"]
    assert nested["run_metadata"]["root_model"] == "ollama/qwen"
    assert [it["iteration"] for it in nested["iterations"]] == [1, 2]
    assert nested["iterations"][0]["code_blocks"][0]["result"]["stdout"] == "20"
    assert nested["iterations"][1]["final_answer"] == "20"
    usage = child["usage_summary"]["model_usage_summaries"]["ollama/qwen"]
    assert (usage["total_calls"], usage["total_input_tokens"]) == (2, 230)


def test_official_export_of_a_cut_off_trace_keeps_what_was_recorded(trace, tmp_path):
    lines = trace.read_text().splitlines()
    first_obs = next(i for i, line in enumerate(lines) if '"Observation"' in line
                     and '"agent_id": "0"' in line)
    cut = cut_off(trace, tmp_path / "cut.jsonl", first_obs + 1)
    header, builder = open_trace(cut)
    out = tmp_path / "official.jsonl"
    assert write_official(header, builder, out) == 1
    meta, only = [json.loads(line) for line in out.read_text().splitlines()]
    assert meta["type"] == "metadata" and only["final_answer"] is None


# --- the command ------------------------------------------------------------------------
def rlm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlm.cli", *args], check=False,
                          capture_output=True,
                          text=True, timeout=60, cwd=cwd)


def test_rlm_replay_command_prints_the_run(trace):
    done = rlm("replay", str(trace))
    assert done.returncode == 0, done.stderr
    assert "Answer: 4711" in done.stdout and "Agent 0.1" in done.stdout


def test_rlm_replay_full_prints_the_whole_thinking(tmp_path):
    trace = write_thinking_trace(tmp_path / "think.jsonl")
    cut, full = rlm("replay", str(trace)), rlm("replay", str(trace), "--full")
    assert cut.returncode == full.returncode == 0, full.stderr
    assert "--full shows all" in cut.stdout and "Then I compare." not in cut.stdout
    assert "      | Then I compare." in full.stdout and "--full shows all" not in full.stdout


def test_rlm_replay_without_a_trace_uses_the_latest_one(trace, tmp_path, monkeypatch):
    folder = tmp_path / "xdg-data" / "rlm" / "traces"
    folder.mkdir(parents=True)
    (folder / "run-1.jsonl").write_text(trace.read_text())
    done = rlm("replay")
    assert done.returncode == 0, done.stderr
    assert "Run run123" in done.stdout


def test_rlm_replay_export_writes_the_official_file(trace, tmp_path):
    out = tmp_path / "out" / "official.jsonl"
    done = rlm("replay", str(trace), "--export", "official", str(out))
    assert done.returncode == 0, done.stderr
    assert "2 iterations" in done.stderr
    assert json.loads(out.read_text().splitlines()[0])["type"] == "metadata"


def test_rlm_replay_errors_exit_2_with_a_message(tmp_path, trace):
    missing = rlm("replay", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = rlm("replay", str(trace), "--export", "html", str(tmp_path / "x"))
    assert bad.returncode == 2 and "Unknown export format 'html'" in bad.stderr


# --- a real run ---------------------------------------------------------------------------
def test_export_of_a_real_run_rebuilds_the_prompts_the_model_saw(tmp_path):
    from rlm import RLM
    from rlm.llm.scripted import ScriptedModel

    def reply(messages, model):
        if "Say hi" in messages[1]["content"]:
            return "Thought: easy.\nFinal Answer: hi"
        if len(messages) == 2:
            return ('Thought: look.\n```repl\nprint(context.count("x"))\n'
                    'print(rlm_query("Say hi", "abc"))\n```')
        return "Thought: done.\nFinal Answer: 3"

    model = ScriptedModel(reply)
    trace = tmp_path / "run.jsonl"
    result = RLM(client=model, model="scripted/m", env={}).completion(
        "How many x?", "x y x z x", trace=trace)
    assert result.answer == "3"
    header, builder = open_trace(trace)
    out = tmp_path / "official.jsonl"
    assert write_official(header, builder, out) == 2
    _, first, second = [json.loads(line) for line in out.read_text().splitlines()]
    root_calls = [c for c in model.calls if "Say hi" not in c.messages[1]["content"]]
    assert first["prompt"] == root_calls[0].messages
    assert second["prompt"] == root_calls[1].messages
    (call,) = first["code_blocks"][0]["result"]["rlm_calls"]
    assert call["response"] == "hi"
    child_calls = [c for c in model.calls if "Say hi" in c.messages[1]["content"]]
    assert call["metadata"]["iterations"][0]["prompt"] == child_calls[0].messages
