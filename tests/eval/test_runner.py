"""Arms and the local runner on a scripted model that solves tasks by reading the prompt
(base) and by code (the RLM arms): expected scores, the cut base prompt, resume, Ctrl-C."""

from __future__ import annotations

import json
import threading
import time

import pytest

from rlm.config import Settings
from rlm.core.budget import prompt_limit, prompt_tokens
from rlm.errors import ServerUnreachable
from rlm.eval.arms import ARMS, Arm, run_one
from rlm.eval.results import ResultsFile
from rlm.eval.runner import LocalRunner, plan_items
from rlm.eval.suites import build
from rlm.eval.tasks import TaskSpec, task_specs
from rlm.llm.windows import Window
from tests.eval.solver import solver_model

SUITES = ["s-niah", "oolong", "oolong-pairs"]


def arms(**settings) -> list[Arm]:
    return [Arm(name, Settings.resolve({}, model="scripted/solver", **settings))
            for name in ARMS]


def run_all(tmp_path, specs, the_arms, model=None):
    results = ResultsFile(tmp_path / "results.jsonl")
    items, _ = plan_items(specs, the_arms, results)
    runner = LocalRunner(results, client=model or solver_model(), env={},
                         trace_dir=tmp_path / "traces")
    return runner.run(items), results


def test_every_arm_scores_one_when_the_context_fits(tmp_path):
    specs = task_specs(SUITES, [1024], 2, seed=0)
    tally, results = run_all(tmp_path, specs, arms())
    lines = results.lines()
    assert tally.done == len(lines) == 18
    assert {line["score"] for line in lines} == {1.0}
    by = {(line["task"]["suite"], line["arm"]): line for line in lines}
    oolong_rlm, oolong_no_sub = by[("oolong", "rlm")], by[("oolong", "rlm-no-sub")]
    assert oolong_rlm["calls"] > 2 and oolong_no_sub["calls"] == 2  # labels by llm_query
    line = by[("s-niah", "rlm")]
    assert line["status"] == "answered" and line["tokens"] > 0 and line["seconds"] >= 0
    assert line["trace_path"] and json.loads(open(line["trace_path"]).readline())["type"] \
        == "header"
    base = by[("s-niah", "base")]
    assert base["cut"] is None and base["trace_path"] is None and base["calls"] == 1
    assert base["task"]["generator"] == "rlm.eval.suites.niah/1" and base["task"]["seed"] == 0


def test_the_base_arm_is_cut_to_the_running_window_and_says_so(tmp_path):
    specs = task_specs(SUITES, [4096], 2, seed=0)
    model = solver_model()
    _, results = run_all(tmp_path, specs, arms(num_ctx=3000), model)
    base = [line for line in results.lines() if line["arm"] == "base"]
    assert all(line["cut"]["total_tokens"] > line["cut"]["kept_tokens"] > 1000 for line in base)
    assert all(line["cut"]["window"] == 3000 for line in base)
    assert "kept" in base[0]["note"] and "window 3,000" in base[0]["note"]
    assert sum(line["score"] for line in base) < len(base)  # it could not see everything
    rlm = [line for line in results.lines() if line["arm"] != "base"]
    assert {line["score"] for line in rlm} == {1.0}  # the RLM arms read it all by code
    settings = Settings.resolve({}, model="scripted/solver", num_ctx=3000)
    limit = prompt_limit(Window("scripted/solver", 3000), settings)
    base_calls = [c for c in model.calls if "The text:\n<<<" in str(c.messages[0]["content"])]
    assert base_calls and all(prompt_tokens(c.messages, "scripted/solver") <= limit
                              for c in base_calls)
    assert all("[The text was cut to fit the model's window: only its first" in
               c.messages[0]["content"] for c in base_calls)


def test_a_rerun_skips_what_is_done_and_a_torn_line_is_skipped(tmp_path):
    specs = task_specs(["s-niah"], [1024], 2, seed=0)
    the_arms = arms()
    _, results = run_all(tmp_path, specs, the_arms)
    assert plan_items(specs, the_arms, results) == ([], 6)
    kept = results.path.read_text().splitlines()
    results.path.write_text("\n".join(kept[:-1]) + "\n" + kept[-1][:40])  # a torn last line
    todo, done = plan_items(specs, the_arms, results)
    assert done == 5 and [item.key for item in todo] == [json.loads(kept[-1])["key"]]
    LocalRunner(results, client=solver_model(), env={}).run(todo)
    assert len(results.lines()) == 6 and plan_items(specs, the_arms, results)[0] == []


def test_redo_failed_runs_failed_lines_again_and_the_report_keeps_the_latest(tmp_path):
    results = ResultsFile(tmp_path / "r.jsonl")
    task = build(TaskSpec("s-niah", 1024, 0, 0))
    arm = arms()[0]
    failed = run_one(task, arm, client=solver_model(), env={}) | {"status": "failed",
                                                                   "score": 0.0}
    results.append(failed)
    items, _ = plan_items([task.spec], [arm], results)
    assert items == []
    items, _ = plan_items([task.spec], [arm], results, redo_failed=True)
    LocalRunner(results, client=solver_model(), env={}).run(items)
    assert [line["score"] for line in results.latest()] == [1.0]


def test_cancel_stops_the_run_in_flight_and_writes_nothing_unfinished(tmp_path):
    specs = task_specs(["s-niah"], [1024], 3, seed=0)
    results = ResultsFile(tmp_path / "r.jsonl")
    items, _ = plan_items(specs, arms()[1:2], results)  # rlm only
    runner = LocalRunner(results, client=solver_model(delay=0.6), env={},
                         on_line=lambda line, tally: threading.Timer(0.2, runner.cancel).start())
    started = time.monotonic()
    tally = runner.run(items)
    assert runner.cancelled and tally.done == 1 and len(results.lines()) == 1
    assert time.monotonic() - started < 5


def test_a_server_that_is_down_stops_the_eval(closed_url):
    task = build(TaskSpec("s-niah", 1024, 0, 0))
    arm = Arm("base", Settings.resolve({}, model="openai/m", api_base=closed_url + "/v1",
                                       num_ctx=8192))
    with pytest.raises(ServerUnreachable):
        run_one(task, arm, env={})
