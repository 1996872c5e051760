"""rlm-tui controls: context and model dialogs, new run, help, palette, start-up."""

from __future__ import annotations

from tests.tui.test_tui_support import (
    T0,
    FixedClock,
    in_progress_script,
    labels,
    make_app,
    scripted_factory,
    wait_for,
    wait_run_end,
)
from tui.screens.help import HelpScreen

SIZE = (120, 36)


async def test_context_checks_refuse_missing_and_binary_files(tmp_path):
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    app = make_app("Find the magic number", context=str(binary), trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.handle is None  # nothing started
        assert "looks binary" in str(app.result_panel.query_one("#result-answer").content)
        await pilot.press("ctrl+o")
        field = app.screen.query_one("#context-path")
        field.value = str(tmp_path / "missing.txt")
        await pilot.press("enter")
        message = str(app.screen.query_one("#context-message").content)
        assert "There is no file or folder" in message
        text = tmp_path / "book.txt"
        text.write_text("The magic number is 7481.\n")
        field.value = str(text)
        await pilot.press("enter")
        assert app.context == str(text)
        assert str(text) in app.settings_bar.text


async def test_context_file_reaches_the_engine(tmp_path):
    book = tmp_path / "book.txt"
    book.write_text("line\n" * 50 + "The magic number is 7481.\n")
    seen = []

    def reply(messages, model):
        seen.append(messages[1]["content"])
        return "Final Answer: 7481"
    app = make_app("Find the magic number", factory=scripted_factory(reply),
                   context=str(book), trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_run_end(pilot)
        assert app.result_panel.answer == "7481"
        assert "characters: 276" in seen[0]


async def test_model_and_limits_dialogs_set_the_next_run(tmp_path):
    from tui.discovery import Discovery, ModelChoice

    found = Discovery([ModelChoice("ollama/llama3:latest", "ollama", "size 4.7 GB")],
                      ["Hosted: set GROQ_API_KEY to see Groq models."])
    requests = []

    def factory(request):
        requests.append(request)
        return scripted_factory(lambda m, model: "Final Answer: ok")(request)
    app = make_app(factory=factory, discover=lambda: found, trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.screen.query_one("#model-list").option_count == 2)
        assert "Hosted: set GROQ_API_KEY" in str(app.screen.query_one("#model-notes").content)
        await pilot.press("down", "enter")
        assert app.model == "ollama/llama3:latest"
        await pilot.press("ctrl+l")
        app.screen.query_one("#max-depth").value = "x"
        await pilot.press("enter")
        assert "max depth" in str(app.screen.query_one("#limits-message").content)
        app.screen.query_one("#max-depth").value = "1"
        app.screen.query_one("#max-steps").value = "7"
        await pilot.press("enter")
        assert (app.max_depth, app.max_steps) == (1, 7)
        await pilot.press(*"2+2?", "enter")
        await wait_run_end(pilot)
        assert requests[0].model == "ollama/llama3:latest"
        assert (requests[0].max_depth, requests[0].max_steps) == (1, 7)


async def test_new_run_clears_the_screen_and_runs_again(tmp_path):
    app = make_app("Find the magic number", trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_run_end(pilot)
        await pilot.press("ctrl+n")
        assert app.agent_tree.nodes == {} and not app.result_panel.display
        assert app.question_box.value == "" and app.question_box.has_focus
        await pilot.press("enter")  # empty question: nothing runs
        assert not app.running
        app.question_box.value = "Find the magic number again"
        await pilot.press("enter")
        await wait_run_end(pilot)
        assert len(app.agent_tree.nodes) == 3
        assert len(list(tmp_path.glob("tui-*.jsonl"))) == 2


async def test_help_screen_lists_every_key(tmp_path):
    app = make_app(trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        keys = [row[0] for row in app.screen.rows]
        for key in ("enter", "ctrl+r", "ctrl+x", "ctrl+n", "ctrl+o", "ctrl+t", "ctrl+l",
                    "ctrl+y", "f1", "ctrl+q", "p", "f", "space"):
            assert key in keys
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_synthetic_events_show_every_status_mark():
    clock = FixedClock(T0 + 30)
    app = make_app(clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        app.show_events(in_progress_script().events)
        await pilot.pause()
        marks = {agent_id: label.removeprefix("▼ ")[0] for agent_id, label in labels(app).items()}
        assert marks == {"0": "◌", "0.1": "✓", "0.2": "◌", "0.2.1": "●", "0.3": "✗",
                         "0.4": "◆"}
        # The view followed the active agent, whose reply is streaming in.
        assert app.transcript.agent_id == "0.2.1"
        assert "Thought: the number is 7481. Final Ans" in app.transcript.entry_texts()[-1]
        # A running agent's time counts with the clock; a finished one's does not.
        before = labels(app)
        clock.now += 60
        app.agent_tree.refresh_active()
        after = labels(app)
        assert before["0.1"] == after["0.1"] and before["0.2.1"] != after["0.2.1"]


# Nor the engine's events and tree, the runner or the transcript's entries: the first
# frame shows no run, and each of those imports is time before it (bench/bench_tui.py).
FIRST_FRAME = """
import sys
from tui.app import RLMApp

class Probe(RLMApp):
    def on_ready(self):
        self.seen = sorted(m for m in ("litellm", "rlm.core.engine", "rlm.sandbox",
                                       "rlm.events", "rlm.tree", "rlm.core.parse",
                                       "tui.runner", "tui.bridge", "tui.state",
                                       "tui.entries", "tui.discovery")
                           if m in sys.modules)
        self.exit()

app = Probe()
app.run(headless=True, size=(120, 36))
print(" ".join(app.seen) or "none")
"""


def test_first_frame_comes_before_litellm_is_imported():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", FIRST_FRAME], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["none"]


async def test_command_palette_offers_the_main_actions(tmp_path):
    app = make_app(trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Run", "Cancel run", "New conversation", "Open context", "Choose model",
                "Set limits", "Copy answer", "Follow the active agent", "Help",
                "Stop the selected agent", "Find an agent"} <= titles
        await pilot.press("ctrl+p")
        await pilot.press(*"set limits")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LimitsScreen")


async def test_litellm_is_preloaded_in_the_background_after_the_first_frame(monkeypatch):
    import threading

    import tui.app

    called = threading.Event()
    seen = []

    def fake_preload():
        seen.append(threading.current_thread().name)
        called.set()
    monkeypatch.setattr(tui.app, "_preload_litellm", fake_preload)
    app = make_app(preload=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, called.is_set)
    assert seen == ["rlm-preload"]


async def test_the_layout_follows_the_terminal_size(tmp_path):
    app = make_app("Find the magic number", trace_dir=tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_run_end(pilot)
        screen, panel = app.screen, app.result_panel
        assert screen.has_class("-wide", "-tall")
        assert app.transcript.display and not panel.folded  # side by side; the whole answer
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert screen.has_class("-narrow", "-short")
        assert panel.folded and panel.outer_size.height == 1  # one line: answer and key
        assert not app.transcript.display  # the panes take turns
        app.agent_tree.focus()
        await pilot.press("f3")
        assert app.transcript.display and not app.query_one("#agents-pane").display
        await pilot.press("escape")
        assert app.query_one("#agents-pane").display and app.agent_tree.has_focus
        await pilot.press("enter")  # enter on an agent reads its transcript
        assert app.transcript.display and app.transcript.has_focus
        await pilot.press("f2")
        assert not panel.folded and "f2 folds" in panel.border_subtitle
        await pilot.press("f2")
        assert panel.folded
        # One line each, whatever the width: the bars fit, they do not wrap.
        for bar in (app.settings_bar, app.totals_bar):
            assert bar.outer_size.height == 1
            assert bar.render().cell_len <= bar.size.width < 80
        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        assert panel.folded  # folded by f2: the choice holds at any size, until the next answer


async def test_the_settings_bar_shows_the_model_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RLM_MODEL", "ollama/llama3")  # as `RLM_MODEL=... rlm-tui`
    monkeypatch.setenv("RLM_MAX_DEPTH", "3")
    app = make_app("Find the magic number", trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "model ollama/llama3" in app.settings_bar.text
        assert "depth 3" in app.settings_bar.text
