"""``rlm mcp``: the SDK's own stdio client spawns ``python -m rlm.cli mcp`` and calls its
tools; the model is the loopback Ollama server."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from rlm.mcp import command
from tests.engine_helpers import code

REPO = Path(__file__).resolve().parents[2]


def task_of(request) -> str:
    return request.messages[1]["content"].split("\n", 1)[0].removeprefix("Task: ")


def delegating(request) -> str:
    """The root asks one child; the child answers; the root answers 42."""
    if task_of(request).startswith("Read the log"):
        return "Thought: it is in line 2.\nFinal Answer: error at 12:04"
    if request.messages[-1]["role"] == "user" and len(request.messages) == 2:
        return code("print(rlm_query('Read the log', context))")
    return "Thought: the child found it.\nFinal Answer: the first error was at 12:04"


def sleeping(request) -> str:
    return code("import time\ntime.sleep(60)")


def server_params(ollama_server, tmp_path: Path, marker: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "rlm.cli", "mcp"], cwd=str(REPO),
        env={"OLLAMA_HOST": ollama_server.url, "XDG_DATA_HOME": str(tmp_path / "data"),
             "NO_PROXY": "127.0.0.1,localhost", "RLM_TEST_MCP": marker,
             "RLM_MODEL": "ollama_chat/llama3"})


async def test_run_task_answers_with_progress_then_replay_and_models(ollama_server, tmp_path):
    ollama_server.replies = delegating
    log = tmp_path / "app.log"
    log.write_text("12:00 start\n12:04 ERROR disk full\n12:05 stop\n")
    progress: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(server_params(ollama_server, tmp_path, "x")) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"run_task", "list_models", "replay_trace"}
        assert {"question", "context_path", "context_text", "model", "profile", "max_depth",
                "max_steps", "timeout"} <= set(tools["run_task"].input_schema["properties"])
        started = time.monotonic()
        result = await client.call_tool(
            "run_task", {"question": "When was the first error?", "context_path": str(log)},
            progress_callback=on_progress)
        seconds = time.monotonic() - started
        assert not result.is_error, result.content
        report = result.structured_content
        assert report["answer"] == "the first error was at 12:04"
        assert (report["status"], report["agents"], report["model"]) == (
            "answered", 2, "ollama_chat/llama3")
        assert report["usage"]["calls"] == 3 and report["usage"]["prompt_tokens"] > 0
        trace = Path(report["trace"])
        assert trace.is_file() and trace.parent == tmp_path / "data" / "rlm" / "traces"
        assert progress[0].startswith("agent 0 started (depth 0, ollama_chat/llama3)")
        for line in ("agent 0 step 1", "agent 0 step 1: running code block 1",
                     "agent 0.1 started (depth 1", "agent 0.1 answered after 1 step: error at",
                     "agent 0 step 2", "agent 0 answered after 2 steps: the first error"):
            assert any(p.startswith(line) for p in progress), (line, progress)
        print(f"MCP run_task round trip: {seconds:.2f} s, {len(progress)} progress messages")

        replay = await client.call_tool("replay_trace", {"trace": str(trace)})
        text = replay.content[0].text
        assert "Answer: the first error was at 12:04" in text and "0.1" in text
        latest = await client.call_tool("replay_trace", {})
        assert latest.content[0].text == text

        models = (await client.call_tool("list_models", {})).structured_content
        assert models["ollama"] == {"host": ollama_server.url, "up": True, "from": "OLLAMA_HOST"}
        assert [m["model"] for m in models["local_models"]] == ["ollama_chat/llama3:latest"]


async def test_bad_input_is_a_tool_error_with_a_message(ollama_server, tmp_path):
    async with Client(server_params(ollama_server, tmp_path, "x")) as client:
        missing = await client.call_tool(
            "run_task", {"question": "q", "context_path": str(tmp_path / "nope.txt")})
        assert missing.is_error and "no such file or folder" in missing.content[0].text
        both = await client.call_tool(
            "run_task", {"question": "q", "context_path": "a", "context_text": "b"})
        assert both.is_error and "not both" in both.content[0].text
        unpulled = await client.call_tool(
            "run_task", {"question": "q", "model": "ollama_chat/nothere"})
        assert unpulled.is_error and "ollama pull nothere" in unpulled.content[0].text
        assert "Traceback" not in unpulled.content[0].text
        bad_limit = await client.call_tool("run_task", {"question": "q", "max_steps": 0})
        assert bad_limit.is_error and "max_steps" in bad_limit.content[0].text
        assert ollama_server.chat_requests() == []
        # A limit given to the tool holds: one step, then the best answer.
        limited = await client.call_tool("run_task", {"question": "q", "max_steps": 1})
        report = limited.structured_content
        assert (report["status"], report["limit_hit"], report["steps"]) == ("limit", "steps", 1)


def processes_with(marker: str) -> dict[int, bool]:
    """Processes whose environment holds ``RLM_TEST_MCP=marker``: pid -> is a sandbox."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                env = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"RLM_TEST_MCP={marker}".encode() in env:
                found[int(entry.name)] = any(v.startswith(b"RLM_SANDBOX_RUN=") for v in env)
    return found


async def test_cancelling_the_call_cancels_the_run_and_kills_its_sandbox(ollama_server,
                                                                        tmp_path):
    ollama_server.replies = sleeping
    marker = uuid.uuid4().hex
    running = anyio.Event()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        if "running code" in (message or ""):
            running.set()

    async with Client(server_params(ollama_server, tmp_path, marker)) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: client.call_tool(
                "run_task", {"question": "Sleep", "context_text": "zzz"},
                progress_callback=on_progress))
            with anyio.fail_after(30):
                await running.wait()
                while not any(processes_with(marker).values()):
                    await anyio.sleep(0.05)
            sandboxes = [pid for pid, sandbox in processes_with(marker).items() if sandbox]
            group.cancel_scope.cancel()  # the client sends notifications/cancelled
        with anyio.fail_after(20):
            while any(os.path.exists(f"/proc/{pid}") for pid in sandboxes):
                await anyio.sleep(0.05)
        traces = list((tmp_path / "data" / "rlm" / "traces").glob("*.jsonl"))
        with anyio.fail_after(10):
            while not traces or '"RunFinished"' not in traces[0].read_text():
                await anyio.sleep(0.05)
                traces = list((tmp_path / "data" / "rlm" / "traces").glob("*.jsonl"))
        last = json.loads(traces[0].read_text().splitlines()[-1])
        assert (last["type"], last["status"]) == ("RunFinished", "cancelled")
        # The server lives on and serves the next call.
        models = await client.call_tool("list_models", {})
        assert not models.is_error


def test_without_the_sdk_the_command_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr(command.importlib.util, "find_spec", lambda name: None)
    assert command.mcp_command(None) == 2
    assert "pip install 'rlm[mcp]'" in capsys.readouterr().err


def test_a_profiles_tools_reach_the_engine_of_a_task(ollama_server, tmp_path):
    # As `rlm run --profile` gives them: the engine is made the same way for both.
    from rlm.mcp.runs import Task, prepare

    profile = tmp_path / "tools.toml"
    profile.write_text('model = "ollama/llama3"\ntools = ["json:dumps"]\n')
    rlm, question, context = prepare(Task("q", context_text="x", profile=str(profile)))
    assert rlm.tools.names == ("dumps",)
    assert (question, context) == ("q", "x")
