"""No model call hangs: timeouts a user can set, Retry-After honoured, a task stored once.

Against the loopback servers' real failure modes (tests/servers/failures.py): a server that
takes a request and never answers, one that stalls in the middle of a stream, a 429 with
``Retry-After``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlm import RLM
from rlm.core import waiting
from tests.engine_helpers import code
from tests.servers import OllamaServer, OpenAIServer

REPO = Path(__file__).resolve().parents[2]
QUICK = {"connect_timeout": 2.0, "first_byte_timeout": 1.0, "chunk_timeout": 1.0,
         "call_timeout": 4.0}


@pytest.mark.parametrize("door", ["1", "0"], ids=["direct", "litellm"])
def test_a_server_that_never_answers_ends_the_run_with_one_clear_line(model_env, door):
    model_env.setenv("RLM_DIRECT_HTTP", door)
    with OllamaServer(stall="never") as server:
        model_env.setenv("OLLAMA_HOST", url := server.url)
        result = RLM(model="ollama_chat/llama3", **QUICK).completion("q")
        ended = time.monotonic()
        first = server.chat_requests()[0].arrived  # (litellm takes seconds to import first)
    assert result.status == "failed" and ended - first < QUICK["call_timeout"] + 1
    assert result.error.startswith(f"Ollama at {url}, ollama_chat/llama3: ")
    assert "RLM_FIRST_BYTE_TIMEOUT" in result.error or "RLM_CALL_TIMEOUT" in result.error
    assert "\n" not in result.error


def test_a_stream_that_stalls_midway_ends_the_call_and_names_the_setting(model_env):
    """Not retried: its first pieces already reached the screen, a retry would repeat them."""
    with OpenAIServer(["Final Answer: a long enough answer to stream in several pieces"],
                      stall="mid_stream") as server:
        url = server.url
        result = RLM(model="openai/m", api_base=url + "/v1", **QUICK).completion("q")
        tries = len(server.chat_requests())
    assert result.status == "failed" and tries == 1
    assert result.error == (
        f"The server at {url}/v1, openai/m: the reply stopped midway: nothing for 1 s; it may "
        f"be stuck or overloaded. If it is only slow, raise RLM_CHUNK_TIMEOUT.")


@pytest.mark.parametrize("door", ["1", "0"], ids=["direct", "litellm"])
def test_retry_after_is_honoured(model_env, door):
    model_env.setenv("RLM_DIRECT_HTTP", door)
    model_env.setenv("OPENAI_API_KEY", "sk-loopback-not-secret-1")
    with OpenAIServer(["Final Answer: after the wait"]) as server:
        server.fail_next(1, 429, "slow down", retry_after=2)
        result = RLM(model="openai/m", api_base=server.url + "/v1").completion("q")
        first, second = server.chat_requests()
    assert result.answer == "after the wait"
    assert 1.9 <= second.arrived - first.arrived < 3.5  # its 2 s, not our own 0.5 s


def test_a_retry_after_longer_than_the_call_may_wait_gives_up_at_once(model_env):
    with OpenAIServer(["never reached"]) as server:
        server.fail_next(1, 429, "slow down", retry_after=120)
        started = time.monotonic()
        result = RLM(model="openai/m", api_base=server.url + "/v1",
                     call_timeout=10).completion("q")
    assert result.status == "failed" and time.monotonic() - started < 5
    assert "rate-limited (429)" in result.error and "asks to wait 120 s" in result.error


def test_a_long_wait_is_said_while_it_lasts(model_env, monkeypatch):
    monkeypatch.setattr(waiting, "FIRST_NOTICE", 0.2)
    with OllamaServer([code("print(1)"), "Final Answer: 1"], latency=0.9) as server:
        model_env.setenv("OLLAMA_HOST", server.url)
        events: list = []
        RLM(model="ollama_chat/llama3", on_event=events.append).completion("q")
    waits = [e for e in events if e.type == "ModelWaiting"]
    assert [round(e.seconds, 1) for e in waits[:2]] == [0.2, 0.4]  # 0.2 s, then doubling
    assert all(e.reason == "reply" and e.agent_id == "0" for e in waits)


def test_a_30_mb_prompt_file_gives_a_small_trace_and_json(tmp_path, ollama_server):
    prompt = tmp_path / "prompt.md"
    prompt.write_text("Which line holds the number?\n" + "filler line\n" * 2_500_000)
    assert prompt.stat().st_size > 30_000_000
    ollama_server.replies = ["Final Answer: none"]
    trace = tmp_path / "run.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "rlm.cli", "run", "--prompt-file", str(prompt), "--model",
         "ollama/llama3", "--json", "--trace", str(trace)], capture_output=True, text=True,
        timeout=120, cwd=REPO, env={**os.environ})
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stdout) < 1_000_000 and trace.stat().st_size < 1_000_000
    (agent,) = json.loads(done.stdout)["agents"]
    assert agent["task_chars"] == len(prompt.read_text()) and len(agent["task"]) == 2000
