"""A whole run over real HTTP where the model's code goes after the user's secrets: the
loopback server must never receive them, while contexts, children and answers still work."""

from __future__ import annotations

import json

import pytest

from rlm import RLM
from rlm.sandbox import file_confinement
from tests.engine_helpers import code, task_of, turn
from tests.servers.openai import OpenAIServer

HERE = file_confinement()
pytestmark = pytest.mark.skipif(not HERE.startswith("landlock"),
                                reason=f"this kernel cannot confine files: {HERE}")
SECRET = "aws_secret_access_key = AKIA-LOOPBACK-NEVER-SENT-4410"
HOST_TOKEN = "tok-host-env-never-sent-8820"

STEAL = """import os, subprocess
def grab(how):
    try:
        return how()
    except OSError as exc:
        return type(exc).__name__
path = os.path.expanduser('~/.aws/credentials')
print('file:', grab(lambda: open(path).read()))
print('cat:', subprocess.run(['cat', path], capture_output=True, text=True).stdout or 'nothing')
print('host env:', grab(lambda: open(f'/proc/{os.getppid()}/environ', 'rb').read()))
print('child:', rlm_query('summarise', context='child context ' + grab(lambda: open(path).read())))
"""

PLAN = {
    "root": [code(STEAL), "Thought: nothing to steal.\nFinal Answer: done"],
    "summarise": [code("print(context)"), "Final Answer: child saw its context"],
}


def reply(request) -> str:
    return PLAN[task_of(request.messages)][turn(request.messages)]


def test_the_model_server_never_receives_the_users_secrets(model_env, tmp_path):
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(SECRET)
    model_env.setenv("HOME", str(home))
    model_env.setenv("MY_SERVICE_TOKEN", HOST_TOKEN)
    model_env.setenv("OPENAI_API_KEY", "sk-loopback-not-secret-1")
    events = []
    with OpenAIServer(reply) as server:
        rlm = RLM(model="openai/tiny", api_base=server.url + "/v1", on_event=events.append)
        result = rlm.completion("root")
        sent = [json.dumps(r.body) + json.dumps(r.headers) for r in server.chat_requests()]
    assert result.answer == "done" and len(result.agents) == 2
    seen = {e.agent_id: e.text for e in events if e.type == "Observation"}
    assert seen["0"].splitlines() == ["file: PermissionError", "cat: nothing",
                                      "host env: PermissionError",
                                      "child: child saw its context"]
    assert seen["0.1"].strip() == "child context PermissionError"
    assert len(sent) == 4 and not any(SECRET in s or HOST_TOKEN in s for s in sent)


def test_the_settings_widen_the_sandbox_and_the_trace_says_what_ran(tmp_path, monkeypatch):
    from rlm import ScriptedModel

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "notes.txt").write_text("the shared note")
    monkeypatch.setenv("RLM_SANDBOX_READ", str(shared))
    code = f"print(open({str(shared / 'notes.txt')!r}).read())"
    model = ScriptedModel([f"Thought: read it.\n```repl\n{code}\n```",
                           "Thought: done.\nFinal Answer: read"])
    trace = tmp_path / "run.jsonl"
    result = RLM(model="scripted/m", client=model).completion("q", trace=trace)
    assert "the shared note" in model.calls[1].messages[-1]["content"]
    header = json.loads(trace.read_text().splitlines()[0])
    assert header["sandbox"]["files"].startswith("landlock") and result.answer == "read"
