"""``rlm eval`` as a user runs it, against a loopback OpenAI-compatible server whose model
solves the tasks (by reading for the base arm, by code for the RLM arms)."""

from __future__ import annotations

import io
import json

import pytest

from rlm.cli.evalbar import EvalBar
from rlm.cli.main import main
from rlm.config import Settings
from rlm.eval.arms import Arm
from rlm.eval.runner import Item, Tally
from rlm.eval.tasks import TaskSpec
from tests.eval.solver import reply
from tests.servers.openai import OpenAIServer


@pytest.fixture
def solver_server(model_env):
    with OpenAIServer(lambda request: reply(request.messages, request.model)) as server:
        yield server


def eval_args(server, out, *more: str) -> list[str]:
    return ["eval", "--model", "openai/solver", "--api-base", server.url + "/v1",
            "--lengths", "1k", "--tasks", "1", "--out", str(out), *more]


def test_help_explains_suites_arms_and_examples(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "run", "--help"])
    text = capsys.readouterr().out
    for words in ("s-niah", "oolong-pairs", "--arm-model", "--ray", "rlm eval report",
                  "--lengths", "rlm-no-sub"):
        assert words in text


def test_a_run_writes_lines_a_table_and_a_chart_and_a_rerun_skips_them(
        solver_server, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    assert main(eval_args(solver_server, out)) == 0
    captured = capsys.readouterr()
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 9 and {x["score"] for x in lines} == {1.0}
    assert {x["model"] for x in lines} == {"openai/solver"}
    assert "score (mean over tasks" in captured.out and "oolong-pairs" in captured.out
    assert "eval 9/9" in captured.err and "0 already in" in captured.err
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert main(eval_args(solver_server, out, "--no-chart")) == 0
    assert "9 already in" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 9


def test_report_redraws_the_table_and_the_chart(solver_server, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    main(eval_args(solver_server, out, "--suites", "s-niah", "--arms", "base,rlm", "-q"))
    capsys.readouterr()
    chart = tmp_path / "other.png"
    assert main(["eval", "report", str(out), "--chart", str(chart)]) == 0
    captured = capsys.readouterr()
    assert "s-niah" in captured.out and "per arm" in captured.out
    assert chart.read_bytes()[:4] == b"\x89PNG" and "chart:" in captured.err


def test_each_arm_may_have_its_own_model(solver_server, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert main(eval_args(solver_server, out, "--suites", "s-niah", "--no-chart",
                          "--arm-model", "base=openai/other")) == 0
    models = {json.loads(x)["arm"]: json.loads(x)["model"] for x in out.read_text().splitlines()}
    assert models == {"base": "openai/other", "rlm": "openai/solver",
                      "rlm-no-sub": "openai/solver"}


@pytest.mark.parametrize(("more", "message"), [
    (["--arm-model", "rlm"], "write it as ARM=VALUE"),
    (["--suites", "babilong"], "Unknown suite"),
    (["--arms", "base,rlm-big"], "Unknown arm"),
    (["--arms", "base", "--arm-model", "rlm=openai/x"], "not in --arms"),
    (["--lengths", "8q"], "is not a number of tokens"),
    (["--arm-profile", "rlm=nope"], "Unknown profile"),
])
def test_bad_input_says_what_to_fix_and_exits_2(solver_server, tmp_path, capsys, more, message):
    assert main(eval_args(solver_server, tmp_path / "r.jsonl", *more)) == 2
    assert message in capsys.readouterr().err


def test_a_server_that_is_down_is_found_before_any_task(closed_url, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    args = ["eval", "--model", "openai/m", "--api-base", closed_url + "/v1", "--out", str(out)]
    assert main(args) == 2
    assert "rlm:" in capsys.readouterr().err and not out.exists()


def test_report_of_a_missing_file_says_how_to_make_one(tmp_path, capsys):
    assert main(["eval", "report", str(tmp_path / "none.jsonl")]) == 2
    assert "rlm eval run --out" in capsys.readouterr().err


def test_the_live_bar_shows_count_eta_running_score_and_what_runs():
    stream = io.StringIO()
    bar = EvalBar(stream, live=True)
    tally = Tally(total=4)
    bar.start(tally)
    assert "0/4" in bar.line() and "ETA ?" in bar.line()
    item = Item(TaskSpec("oolong", 8192, 0, 1), Arm("rlm", Settings.resolve({}, model="m")))
    bar.started(item)
    line = {"arm": "rlm", "score": 0.5, "status": "answered", "task": {"id": "x"}}
    tally.add(line)
    bar.finished(line, tally)
    shown = bar.line()
    assert "1/4" in shown and "25%" in shown and "ETA " in shown and "ETA ?" not in shown
    assert "rlm 0.50" in shown and "now: oolong 8k #1 rlm" in shown
    bar.note("a message")
    bar.close()
    assert "a message\n" in stream.getvalue() and stream.getvalue().endswith("\r\x1b[2K")
