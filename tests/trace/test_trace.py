"""The trace: header, one event per line, secrets scrubbed, a cut trace still rebuilds."""

from __future__ import annotations

import json

from rlm.trace import load_tree, read_trace
from tests.engine_helpers import code, scripted_rlm
from tests.test_tree import tree_script

PLAN = {
    "root": [code("print(rlm_query_batched(['a', 'b']))"), "Final Answer: both"],
    "a": [code("print(rlm_query('a1'))"), "Final Answer: A"],
    "b": ["Final Answer: B"],
    "a1": ["Final Answer: A1"],
}


def run_with_trace(tmp_path, **kw):
    path = tmp_path / "run.jsonl"
    rlm, _, events = scripted_rlm(tree_script(PLAN), **kw)
    result = rlm.completion("root", trace=path)
    return path, result, events


def test_header_then_one_event_per_line_without_token_deltas(tmp_path):
    path, result, events = run_with_trace(tmp_path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["version"] == 1
    assert lines[0]["settings"]["max_depth"] == 2
    written = [e.type for e in events if e.type != "TokenDelta"]
    assert [line["type"] for line in lines[1:]] == written
    assert all({"seq", "ts", "agent_id"} <= set(line) for line in lines[1:])
    assert result.trace_path == str(path)


def test_a_trace_alone_rebuilds_the_same_tree(tmp_path):
    path, result, _ = run_with_trace(tmp_path)
    header, builder = load_tree(path)
    live = [(n.agent_id, n.parent_id, n.depth, n.status, n.steps, n.answer) for n in result.agents]
    replayed = [(n.agent_id, n.parent_id, n.depth, n.status, n.steps, n.answer)
                for n in builder.agents()]
    assert replayed == live
    assert builder.run_finished.answer == "both"
    assert builder.run_usage().to_dict() == result.usage.to_dict()


def test_a_trace_cut_in_the_middle_rebuilds_the_tree_up_to_that_point(tmp_path):
    path, _, _ = run_with_trace(tmp_path)
    raw = path.read_text()
    lines = raw.splitlines(keepends=True)
    cut_at = next(i for i, line in enumerate(lines) if '"agent_id": "0.1.1"' in line) + 1
    torn = "".join(lines[:cut_at]) + lines[cut_at][: len(lines[cut_at]) // 2]
    path.write_text(torn)
    _, builder = load_tree(path)
    started = [json.loads(line)["agent_id"] for line in lines[:cut_at]
               if '"AgentStarted"' in line]
    assert {"0", "0.1", "0.1.1"} <= set(started)
    assert sorted(n.agent_id for n in builder.agents()) == sorted(started)
    assert builder.root.status == "waiting" and builder.run_finished is None
    _, events = read_trace(path)
    assert len(events) == cut_at - 1


def test_no_secret_value_lands_in_a_trace(tmp_path, monkeypatch):
    secret = "sk-test-very-secret-123456"
    monkeypatch.setenv("GROQ_API_KEY", secret)
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-abcdefgh")
    plan = {"root": [code("import os\nprint(os.environ.get('GROQ_API_KEY'), "
                          f"'{secret}')"), f"Final Answer: the key is {secret}"]}
    rlm, _, _ = scripted_rlm(tree_script(plan))
    path = tmp_path / "t.jsonl"
    rlm.completion("root", trace=path)
    text = path.read_text()
    assert secret not in text and "tok-abcdefgh" not in text
    assert "[redacted]" in text
    assert '"None' in text or "None [redacted]" in text  # the key was not visible in the sandbox
