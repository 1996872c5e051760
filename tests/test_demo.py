"""``demo.py``: the haystacks it builds, and a run end to end against a loopback Ollama."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def load_demo():
    spec = importlib.util.spec_from_file_location("demo", REPO / "demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


demo = load_demo()


def run_demo(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "demo.py"), *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=REPO,
                          env={**os.environ, **(env or {})})


def code(text: str) -> str:
    return f"Thought: run it.\n```repl\n{text}\n```"


def prompt_of(request) -> str:
    return "\n".join(str(m.get("content", "")) for m in request.messages)


def test_the_haystack_has_one_needle_and_is_repeatable(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = demo.build_single(tmp_path / "a", 5000, seed=3)
    again = demo.build_single(tmp_path / "b", 5000, seed=3)
    text = first.path.read_text()
    assert text == again.path.read_text()
    lines = text.splitlines()
    assert len(lines) == 5000
    needles = [i for i, line in enumerate(lines) if "magic number" in line]
    assert len(needles) == 1 and 500 <= needles[0] <= 4500
    assert lines[needles[0]] == f"The magic number is {first.expected[0]}."
    assert not re.search(r"\d", "".join(lines[:needles[0]]))  # the only number is the needle


def test_multi_builds_one_report_per_document(tmp_path):
    hay = demo.build_multi(tmp_path, 3000, seed=5, docs=4)
    reports = sorted(hay.path.iterdir())
    assert [p.name for p in reports] == [f"report-{i}.txt" for i in range(1, 5)]
    for report in reports:
        text = report.read_text()
        assert text.count("Project codename:") == 1 and text.count("Final budget:") == 1
    names, budgets, largest = hay.expected[:4], hay.expected[4:8], hay.expected[8]
    assert largest == names[budgets.index(max(budgets, key=int))]


def test_is_right_needs_every_expected_piece():
    assert demo.is_right("The magic number is 4,711.", ["4711"])
    assert not demo.is_right("47110", ["4711"])
    assert demo.is_right("Heron 300, Ibis 500; largest: Ibis", ["Heron", "Ibis", "300", "500"])
    assert not demo.is_right("Heron 300", ["Heron", "Ibis", "300", "500"])


def test_no_reachable_model_says_what_to_do_and_exits_2(closed_url):
    done = run_demo("--lines", "100", env={"RLM_MODEL": "ollama/llama3",
                                           "OLLAMA_HOST": closed_url})
    assert done.returncode == 2
    assert f"Ollama is not running at {closed_url}: run `ollama serve`" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_demo_finds_the_needle_end_to_end(ollama_server):
    def reply(request):
        found = re.search(r"Observation: \['(\d+)'\]", prompt_of(request))
        if found:
            return f"Thought: there it is.\nFinal Answer: {found.group(1)}"
        return code('import re\nprint(re.findall(r"magic number is (\\d+)", context))')

    ollama_server.replies = reply
    done = run_demo("--lines", "3000", env={"RLM_MODEL": "ollama/llama3"})
    assert done.returncode == 0, done.stderr
    number = re.search(r"magic number (\d+) at line", done.stderr).group(1)
    assert f"Answer:  {number}\nRight:   yes" in done.stdout
    for label in ("Agents:  1", "Steps:   2", "Tokens:  ", "Cost:    $0.0000", "Time:    ",
                  "Trace:   "):
        assert label in done.stdout
    assert "[0] answered after 2 steps" in done.stderr  # the live progress, as plain lines


@pytest.mark.slow
def test_multi_runs_one_child_agent_per_document(ollama_server):
    def reply(request):
        text = prompt_of(request)
        if "Task: Give the codename" in text:  # a child agent, reading one report
            seen = re.search(r"Observation: (\w+) (\d+)", text)
            if seen:
                return f"Thought: done.\nFinal Answer: {seen.group(1)} {seen.group(2)}"
            return code('import re\nprint(re.search(r"codename: (\\w+)", context).group(1), '
                        're.search(r"Final budget: (\\d+)", context).group(1))')
        pairs = re.findall(r"'(\w+) (\d+)'", text)
        if pairs:
            best = max(pairs, key=lambda p: int(p[1]))[0]
            listed = ", ".join(f"{n} {b}" for n, b in pairs)
            return f"Thought: combine.\nFinal Answer: {listed}; largest: {best}"
        return code('print(rlm_query_batched(["Give the codename and the final budget."\n'
                    '    for _ in context], [context[k] for k in sorted(context)]))')

    ollama_server.replies = reply
    done = run_demo("--multi", "--docs", "3", "--lines", "600",
                    env={"RLM_MODEL": "ollama/llama3"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Right:   yes" in done.stdout and "Agents:  4" in done.stdout
    assert done.stderr.count("started at depth 1") == 3
