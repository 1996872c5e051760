"""``rlm run`` end to end: a real subprocess, real litellm, a loopback Ollama server.

Each test that reaches a model starts the command once (importing litellm takes seconds),
so several behaviours are checked on the same run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import FakeModel, OllamaServer

slow = pytest.mark.slow  # these start litellm in a fresh process: seconds each

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-test-0123456789abcdefSECRET"


def rlm(*args: str, stdin: str | None = None, env: dict | None = None,
        timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlm.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})}, cwd=REPO)


def prompt_of(request) -> str:
    return "\n".join(str(m.get("content", "")) for m in request.messages)


def code(text: str) -> str:
    return f"Thought: run it.\n```repl\n{text}\n```"


def trace_lines(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@slow
def test_run_answers_on_stdout_with_progress_and_trace_on_stderr(ollama_server, tmp_path):
    ollama_server.replies = [code('print(context.splitlines()[1], "MA" + "RK")\n'
                                  'import os; print(os.environ.get("GROQ_API_KEY"))'),
                             lambda r: "Thought: seen.\nFinal Answer: 4711"]
    done = rlm("run", f"Find the magic number (my key is {SECRET})", "--context", "-",
               "--model", "ollama/llama3", "--verbose",
               stdin="alpha\nThe magic number is 4711.\nomega\n",
               env={"GROQ_API_KEY": SECRET})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "4711\n"
    assert len(ollama_server.chat_requests()) == 2
    first = prompt_of(ollama_server_request(ollama_server, 0))
    assert "alpha\n    The magic number is 4711." in first
    assert "The magic number is 4711. MARK" in prompt_of(ollama_server_request(ollama_server, 1))
    assert "rlm: answered in " in done.stderr and "1 agent, 2 steps" in done.stderr
    assert "[0] step 1 reply (" in done.stderr  # --verbose shows the steps
    trace = Path(done.stderr.split("rlm: trace: ", 1)[1].split()[0])
    assert trace.parent == Path(os.environ["XDG_DATA_HOME"]) / "rlm" / "traces"
    lines = trace_lines(trace)
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "RunFinished"
    assert SECRET not in trace.read_text()  # neither from the question nor from the sandbox
    assert "[redacted]" in trace.read_text()


def ollama_server_request(server: OllamaServer, index: int):
    """The decoded ``ChatRequest`` of the ``index``-th chat call."""
    from tests.servers.ollama import _chat_request

    record = server.chat_requests()[index]
    return _chat_request(record.path, record.body)


@slow
def test_json_is_the_only_stdout_and_a_limit_still_gives_an_answer(ollama_server, tmp_path):
    ollama_server.replies = [code("print(1)"), "Thought: best guess.\nFinal Answer: 7"]
    question = tmp_path / "q.md"
    question.write_text("What number?")
    trace = tmp_path / "t.jsonl"
    done = rlm("run", "--prompt-file", str(question), "--model", "ollama/llama3",
               "--max-steps", "1", "--trace", str(trace), "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # --quiet
    result = json.loads(done.stdout)  # one object, nothing else on stdout
    assert (result["answer"], result["status"], result["limit_hit"]) == ("7", "limit", "steps")
    assert result["trace"] == str(trace) and trace.exists()
    assert set(result["usage"]) >= {"prompt_tokens", "completion_tokens", "calls", "cost_usd",
                                    "by_model"}
    assert result["usage"]["calls"] == 2 and result["usage"]["cost_usd"] == 0.0
    (agent,) = result["agents"]
    assert {k: agent[k] for k in ("agent_id", "parent_id", "depth", "task", "status", "steps",
                                  "answer")} == {
        "agent_id": "0", "parent_id": None, "depth": 0, "task": "What number?",
        "status": "limit", "steps": 1, "answer": "7"}
    assert "What number?" in prompt_of(ollama_server_request(ollama_server, 0))


@slow
def test_no_answer_exits_1(ollama_server):
    ollama_server.replies = lambda r: ""
    done = rlm("run", "Say nothing", "--model", "ollama/llama3", "--max-steps", "1", "--json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["answer"] == "" and result["status"] == "limit"
    assert "no answer" in done.stderr


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--model", "ollama/mistral"], {}, "ollama pull mistral"),
    (["--model", "groq/llama-3.3-70b-versatile"], {}, "GROQ_API_KEY"),
])
def test_an_unusable_model_exits_2_before_any_call(ollama_server, args, env, message):
    done = rlm("run", "q", *args, env=env)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert ollama_server.chat_requests() == []


def test_a_server_that_is_down_exits_2_with_what_to_do(closed_url):
    done = rlm("run", "q", "--model", "ollama/llama3", env={"OLLAMA_HOST": closed_url})
    assert done.returncode == 2
    assert f"Ollama is not running at {closed_url}" in done.stderr
    assert "ollama serve" in done.stderr and "Traceback" not in done.stderr


def test_dry_run_checks_everything_but_calls_no_model(ollama_server, tmp_path):
    ollama_server.models = [FakeModel("llama3:latest", size=300_000_000)]  # fits any RAM
    context = tmp_path / "big.txt"
    context.write_text("word " * 20_000 + "\nThe magic number is 1.\n")
    done = rlm("run", "What is the magic number?", "--context", str(context),
               "--model", "ollama/llama3", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "no model was called" in done.stdout
    assert "model:      ollama/llama3  (reachable)" in done.stdout
    assert f"context:    {context}: str, 100,024 chars" in done.stdout
    assert "about 20,00" in done.stdout and "8,192-token window" in done.stdout
    assert ("window:     ollama/llama3: runs at 8,192 tokens (the model's trained window: "
            "its KV cache (1.0 GiB)") in done.stdout and "1,024 kept for each reply" in done.stdout
    assert ollama_server.chat_requests() == []
    assert [r.path for r in ollama_server.requests].count("/api/tags") >= 1
    as_json = rlm("run", "q", "--model", "ollama/llama3", "--dry-run", "--json")
    facts = json.loads(as_json.stdout)
    assert facts["dry_run"] is True and facts["models"] == ["ollama/llama3"]
    window = facts["windows"]["ollama/llama3"]
    assert facts["context_tokens"] >= 1 and (window["running"], window["trained"]) == (8192, 8192)
    assert ollama_server.chat_requests() == []
    assert not list((Path(os.environ["XDG_DATA_HOME"])).rglob("*.jsonl"))  # no trace written


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@slow
def test_ctrl_c_cancels_closes_the_trace_and_leaves_no_process(ollama_server, tmp_path):
    ollama_server.replies = lambda r: "Thought: thinking slowly"
    ollama_server.latency = 60.0  # the run is inside a model call when Ctrl-C comes
    trace = tmp_path / "t.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "rlm.cli", "run", "q", "--model",
                             "ollama/llama3", "--trace", str(trace)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ollama_server.chat_requests() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ollama_server.chat_requests(), "the run never called the model"
        workers = descendants(proc.pid)
        assert workers, "the agent's sandbox worker should be running"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "cancelling" in err and "Traceback" not in err
    lines = trace_lines(trace)
    assert lines[-1]["type"] == "RunFinished" and lines[-1]["status"] == "cancelled"
    assert [e["status"] for e in lines if e["type"] == "AgentFinished"] == ["cancelled"]
    assert not [pid for pid in workers if alive(pid)]
    replay = rlm("replay", str(trace))  # the real trace of a cancelled run replays
    assert replay.returncode == 0 and "Status: cancelled" in replay.stdout
    assert "Agent 0 (depth 0, ollama/llama3): cancelled" in replay.stdout


@slow
def test_a_profile_with_two_deployments_spreads_the_run_over_both_hosts(model_env, tmp_path):
    def reply(request):
        text = prompt_of(request)
        if "Spread the calls" not in text:
            return "ok"  # an llm_query
        if "Observation: ['ok'" in text:
            return "Thought: all answered.\nFinal Answer: spread"
        return code('print(llm_query_batched(["sub-question %d" % i for i in range(16)]))')

    with OllamaServer(reply) as first, OllamaServer(reply) as second:
        profile = tmp_path / "two-hosts.toml"
        profile.write_text("\n".join(f'[[deployments]]\nmodel = "ollama/llama3"\n'
                                     f'api_base = "{s.url}"' for s in (first, second)))
        done = rlm("run", "Spread the calls", "--profile", str(profile), "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["answer"] == "spread"
        counts = (len(first.chat_requests()), len(second.chat_requests()))
    # 18 calls shuffled over two hosts: both get some (all on one: p = 2**-17).
    assert sum(counts) == 18 and min(counts) > 0, counts
