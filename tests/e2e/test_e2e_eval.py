"""``rlm eval`` end to end against the real (tiny, base) model: the plumbing, not the scores.

Two lengths, two tasks per suite, every arm, through the CLI as a user runs it: the results
file has a line for each (task, arm) with its answer, score, tokens and time, the report
redraws the table, and the chart is a valid PNG. A 270M base model cannot solve these
tasks, so no score is checked beyond its range.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Servers

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(1800)  # 36 runs on a model at ~10 tokens/s


def _rlm(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlm.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1700, check=False)


def test_a_small_eval_writes_its_file_its_report_and_its_chart(e2e_servers: Servers,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "e2e-eval.jsonl"
    # A 2,048-token window keeps a rambling reply to 512 tokens (a quarter of it) and makes
    # the base arm cut its longer prompts, as it must on a real model's small window.
    env = {**os.environ, "OLLAMA_HOST": e2e_servers.ollama_host, "RLM_NUM_CTX": "2048",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    run = _rlm("eval", "--model", f"ollama_chat/{e2e_servers.model_name}", "--lengths",
               "512,1k", "--tasks", "2", "--max-steps", "1", "--max-depth", "1",
               "--out", str(out), env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 2 * 3 * 2 * 3
    assert {x["arm"] for x in lines} == {"base", "rlm", "rlm-no-sub"}
    for line in lines:
        assert 0.0 <= line["score"] <= 1.0 and line["status"] in ("answered", "limit")
        assert line["tokens"] > 0 and line["seconds"] > 0 and line["cost_usd"] == 0
        assert (line["trace_path"] is None) == (line["arm"] == "base")
        assert line["cut"] is None or line["cut"]["window"] == 2048
    assert all(Path(x["trace_path"]).exists() for x in lines if x["trace_path"])
    assert "score (mean over tasks" in run.stdout and "eval 36/36" in run.stderr
    report = _rlm("eval", "report", str(out), "--chart", str(tmp_path / "again.png"), env=env)
    assert report.returncode == 0 and report.stdout == run.stdout
    for chart in (out.with_suffix(".png"), tmp_path / "again.png"):
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
