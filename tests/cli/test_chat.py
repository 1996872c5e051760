"""``rlm chat`` driven by stdin: questions in, answers out, one sandbox for all of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.engine_helpers import code
from tests.servers import OllamaServer

REPO = Path(__file__).resolve().parents[2]


def chat(stdin: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlm.cli", "chat", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, **(env or {})})


def model(request) -> str:
    """Turn 1 counts the lines into a variable; turn 2 reads that variable."""
    messages = request.messages
    task = messages[1]["content"].split("\n", 1)[0]
    if messages[-1]["role"] == "user" and messages[-1]["content"].startswith("Observation:"):
        return "Thought: seen.\nFinal Answer: " + messages[-1]["content"][13:]
    if "How many" in task:
        return code("lines = context.splitlines()\nprint(len(lines))")
    return code("print(sorted(lines)[0])")


def test_two_questions_on_stdin_share_one_sandbox(model_env, tmp_path):
    context = tmp_path / "fruit.txt"
    context.write_text("pear\napple\nfig\n")
    trace = tmp_path / "chat.jsonl"
    with OllamaServer(model, latency=0.15) as server:  # turns long enough to add up
        done = chat("How many lines?\n\n/tree\nWhich comes first?\n", "--context", str(context),
                    "--model", "ollama_chat/llama3", "--trace", str(trace),
                    env={"OLLAMA_HOST": server.url})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["3", "apple"]  # the second used turn 1's `lines`
    assert "0 answered" in done.stderr  # /tree printed the first turn's tree
    assert trace.read_text().count('"type": "RunStarted"') == 2
    replay = subprocess.run([sys.executable, "-m", "rlm.cli", "replay", str(trace)],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert "A conversation of 2 turns:" in replay.stdout
    assert done.stderr.count("started at depth 0") == 2  # each turn's progress, once
    turns = [json.loads(line)["seconds"] for line in trace.read_text().splitlines()
             if '"type": "RunFinished"' in line]
    assert f"in {sum(turns):.1f} s;" in replay.stdout  # both turns' time, not the last one's
    assert "1. How many lines? -> 3" in replay.stdout and "2. Which comes first? -> apple" \
        in replay.stdout


def test_a_bad_command_or_model_says_so_and_the_chat_goes_on(model_env, tmp_path):
    context = tmp_path / "fruit.txt"
    context.write_text("pear\napple\nfig\n")
    script = ("/nonsense\n/model ollama_chat/missing\nHow many lines?\n"
              "/model ollama_chat/llama3\nHow many lines?\n")
    with OllamaServer(model) as server:
        done = chat(script, "--context", str(context), "--model", "ollama_chat/llama3",
                    env={"OLLAMA_HOST": server.url})
    assert done.returncode == 0
    assert "unknown command '/nonsense'" in done.stderr
    assert "has no model 'missing'" in done.stderr  # that turn failed, and said why
    assert done.stdout.splitlines() == ["3"]  # the next turn, back on llama3, answered
