"""The first frame's bench is fair: its bare Textual app draws rlm-tui's first frame.

``bench/bench_tui.py`` times rlm-tui's first frame against an app made of Textual's own
widgets only; the ratio means something only if both put the same screen in front of the
user. Here both are drawn at the bench's size and compared cell for cell, colours included.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_tui  # noqa: E402

from tui.app import RLMApp  # noqa: E402

SIZE = (120, 36)  # the bench's


async def first_screen(app) -> str:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        return app.export_screenshot()


async def test_the_bench_bare_app_draws_rlm_tuis_first_frame():
    namespace: dict = {}
    exec(bench_tui.bare_app_source(), namespace)
    bare = await first_screen(namespace["Bare"]())
    ours = await first_screen(RLMApp(cursor_blink=False))
    assert bare == ours  # a difference: change the bare app (BARE_APP) to match


def test_the_first_frame_probes_run():
    times = bench_tui.first_frames(1, {"rlm-tui": bench_tui.FIRST_FRAME,
                                       "bare": bench_tui.bare_script()})
    for name in ("rlm-tui", "bare"):
        [(wall, inner)] = times[name]
        assert 0 < inner < wall, name
