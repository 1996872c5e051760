"""The table and the chart of a results file."""

from __future__ import annotations

import sys

import pytest

from rlm.errors import ConfigError
from rlm.eval.chart import write_chart
from rlm.eval.report import duration, format_report, human_tokens, summarize


def line(suite: str, length: int, arm: str, score: float, **more) -> dict:
    return {"key": f"{suite}-{length}-{arm}-{score}", "arm": arm, "model": f"m/{arm}",
            "task": {"suite": suite, "length": length}, "score": score, "tokens": 1500,
            "cost_usd": 0.001, "seconds": 30.0, "status": "answered", **more}


LINES = [line("s-niah", 8192, "base", 1.0), line("s-niah", 8192, "base", 0.0),
         line("s-niah", 8192, "rlm", 1.0), line("s-niah", 32768, "base", 0.0,
                                                cut={"kept_tokens": 1}),
         line("s-niah", 32768, "rlm", 1.0), line("oolong", 8192, "rlm-no-sub", 0.5,
                                                status="failed")]


def test_the_table_has_a_score_per_arm_per_length_and_totals_per_arm():
    text = format_report(summarize(LINES))
    rows = {tuple(r.split()[:2]): r.split()[2:] for r in text.splitlines()}
    assert text.splitlines()[1].split() == ["suite", "length", "base", "rlm", "rlm-no-sub"]
    assert rows[("s-niah", "8k")] == ["0.50", "(2)", "1.00", "(1)", "-"]
    assert rows[("s-niah", "32k")] == ["0.00", "(1)", "1.00", "(1)", "-"]
    assert rows[("all", "8k")] == ["0.50", "(2)", "1.00", "(1)", "0.50", "(1)"]
    base = next(r for r in text.splitlines() if r.startswith("base "))
    assert base.split() == ["base", "m/base", "3", "0.33", "4.5k", "$0.0030", "1m30s", "0", "1"]
    no_sub = next(r for r in text.splitlines() if r.startswith("rlm-no-sub "))
    assert no_sub.split()[-2:] == ["1", "-"]  # one failed; cuts are a base-arm matter


def test_no_lines_is_said_plainly():
    assert format_report(summarize([])) == "No results yet."


def test_human_numbers():
    assert [human_tokens(n) for n in (999, 4500, 2_300_000)] == ["999", "4.5k", "2.3M"]
    assert [duration(s) for s in (5, 200, 7300)] == ["5s", "3m20s", "2h01m"]


def test_the_chart_is_a_png_with_one_panel_per_suite(tmp_path):
    from PIL import Image

    path = write_chart(summarize(LINES), tmp_path / "sub" / "chart.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
    assert width > 2 * height  # two suites side by side


def test_without_matplotlib_the_message_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    with pytest.raises(ConfigError, match="uv sync --extra eval"):
        write_chart(summarize(LINES), tmp_path / "c.png")
