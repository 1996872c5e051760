"""A quick smoke of bench/ so it cannot rot: the server, the figures, one tiny real run.

The full bench (both implementations, five repetitions, up to 100 MB) is run by hand; see
bench/README.md. No timing is asserted here, only that every figure is produced and right.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import drivelib  # noqa: E402
import procmem  # noqa: E402
import scenarios as sc  # noqa: E402

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with OPENER.open(request, timeout=10) as reply:
        return json.loads(reply.read())


@pytest.fixture
def bench_url():
    proc = subprocess.Popen([sys.executable, str(BENCH / "server.py"), "--latency", "0.01",
                             "--lifetime", "60"], stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{int(proc.stdout.readline().split()[1])}"
    finally:
        proc.kill()
        proc.wait()


# --- the server --------------------------------------------------------------------------
def test_server_classifies_requests_and_scripts_replies(bench_url):
    post(f"{bench_url}/_script", {"root": ["r1", "r2"], "child": ["c1"]})
    system = {"role": "system", "content": "You are an agent."}
    root = [system, {"role": "user", "content": "Task [[root]]"}]
    answers = [
        post(f"{bench_url}/v1/chat/completions", {"model": "bench", "messages": messages})
        ["choices"][0]["message"]["content"]
        for messages in (root, root + [{"role": "assistant", "content": "r1"}],
                         [system, {"role": "user", "content": "a child task"}],
                         [{"role": "user", "content": "Q7"}])]
    assert answers == ["r1", "r2", "c1", "A:Q7"]
    log = json.loads(OPENER.open(f"{bench_url}/_log", timeout=10).read())
    assert [(e["role"], e["turn"]) for e in log] == [("root", 1), ("root", 2), ("child", 1),
                                                     ("sub", 1)]
    assert all(e["end"] - e["arrival"] >= 0.01 and e["in_flight"] == 1 for e in log)
    assert log[1]["prompt_chars"] == len("You are an agent.Task [[root]]r1")


def test_server_streams_with_usage_and_honours_stop(bench_url):
    post(f"{bench_url}/_script", {"root": ["Thought: go\nObservation: made up"], "chunk": 3})
    body = {"model": "bench", "stream": True, "stop": ["Observation:"],
            "stream_options": {"include_usage": True},
            "messages": [{"role": "system", "content": "s"},
                         {"role": "user", "content": "[[root]]"}]}
    raw = OPENER.open(urllib.request.Request(f"{bench_url}/v1/chat/completions",
                                             data=json.dumps(body).encode()), timeout=10).read()
    events = [json.loads(line[6:]) for line in raw.decode().splitlines()
              if line.startswith("data: {")]
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == "Thought: go\n"
    assert events[-1]["usage"]["completion_tokens"] == 3
    assert raw.decode().rstrip().endswith("data: [DONE]")


def test_server_stops_by_itself():
    proc = subprocess.Popen([sys.executable, str(BENCH / "server.py"), "--lifetime", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("PORT ")
        assert proc.wait(timeout=20) == 0
        assert "lifetime of 0.5 s is up" in proc.stderr.read()
    finally:
        proc.kill()


# --- how figures are read ----------------------------------------------------------------
def test_model_time_counts_overlapping_requests_once():
    entries = [{"arrival": 0.0, "end": 1.0}, {"arrival": 0.5, "end": 1.5},
               {"arrival": 3.0, "end": 3.25}]
    assert sc.model_time(entries) == pytest.approx(1.75)
    assert sc.turn_gaps(entries) == pytest.approx([-0.5, 1.5])


def test_haystack_has_one_needle_at_the_asked_size():
    text = drivelib.haystack(200_000)
    assert abs(len(text) - 200_000) <= 40
    assert text.count("The magic number is 7341.") == 1


def test_process_tree_memory_is_read_from_proc():
    child = subprocess.Popen([sys.executable, "-c", "print('up', flush=True); "
                              "import time; time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "up\n"  # its interpreter runs: its own pages
        assert child.pid in procmem.tree_pids(os.getpid())
        assert procmem.pss_kb(child.pid) > 1000
        rss, peak = procmem.status_kb(child.pid)
        assert peak >= rss > 1000
    finally:
        child.kill()
        child.wait()


def test_the_same_replies_end_a_run_in_both_dialects():
    reply = sc.final_code("'4'")
    ours, theirs = {"FINAL": lambda v: ours.setdefault("done", v)}, {"answer": {}}
    exec(reply.split("```repl\n")[1].split("\n```")[0], ours)
    exec(reply.split("```repl\n")[1].split("\n```")[0], theirs)
    assert ours["done"] == "4"
    assert theirs["answer"] == {"content": "4", "ready": True}


# --- one tiny real run ---------------------------------------------------------------------
def test_a_tiny_bench_run_produces_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--reps", "1", "--variants",
         "ours-fast", "--only", "fixed,batches,fanout10,needle0.1MB", "--no-extras",
         "--latency", "0.02", "--out", str(out)],
        capture_output=True, text=True, timeout=110, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    fixed, = results["fixed"]["ours-fast"]
    batches, = results["batches"]["ours-fast"]
    fan, = results["fanout10"]["ours-fast"]
    needle, = results["needle0.1MB"]["ours-fast"]
    assert fixed["answer_ok"] and fixed["fixed_s"] > 0
    assert batches["answers_kept"] == 60
    assert fan["answers"] == 10 and fan["span_s"] >= fan["ideal_s"] * 0.9
    assert needle["answer_ok"] and needle["peak_mb"] > 0
    assert needle["root_prompt_max_chars"] < 10_000  # the context stays out of the prompt
    assert "| fixed | fixed_s |" in run.stdout


def test_the_sandbox_start_bench_produces_every_figure():
    run = subprocess.run([sys.executable, str(BENCH / "bench_sandbox.py"), "--n", "2"],
                         capture_output=True, text=True, timeout=110, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.splitlines()[-1].removeprefix("RESULT "))
    for how in ("cold", "warm"):
        for kind in ("confined", "off"):
            figure = result[f"{how}_{kind}_ms"]
            assert 0 < figure["min"] <= figure["median"] <= figure["max"]
    assert result["n"] == 2 and result["confinement"]
