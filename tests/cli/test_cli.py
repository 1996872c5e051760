"""The ``rlm`` command without a model: help, version, argument and settings errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def rlm(*args: str, stdin: str | None = None, env: dict | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``python -m rlm.cli`` as a user would run ``rlm`` (a real subprocess)."""
    return subprocess.run([sys.executable, "-m", "rlm.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})}, cwd=REPO)


def modules_loaded_by(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                           "sys.stderr.write('\\n'.join(sorted(sys.modules)))"],
                          capture_output=True, text=True, check=True, cwd=REPO)
    return set(done.stderr.split())


def test_help_lists_commands_with_examples_and_exit_codes():
    done = rlm("--help")
    assert done.returncode == 0
    for text in ("run", "models", "replay", "mcp", "examples:",
                 "rlm run \"What is the magic number?\"", "exit codes:", "130 cancelled",
                 "--version"):
        assert text in done.stdout


@pytest.mark.parametrize(("command", "expected"), [
    ("run", ["--context PATH|-", "--prompt-file F", "--model M", "--sub-model M",
             "--api-base URL", "--max-depth N", "--max-steps N", "--action-timeout S",
             "--profile NAME|FILE", "--trace FILE", "--json", "--verbose", "--quiet",
             "--dry-run", "cat log.txt | rlm run"]),
    ("models", ["--json", "OLLAMA_HOST=gpu-box:11434 rlm models"]),
    ("replay", ["TRACE", "--export FORMAT FILE", "--export official"]),
    ("mcp", ["claude mcp add rlm", "tools: run_task", "rlm[mcp]"]),
])
def test_every_subcommand_explains_itself_with_examples(command, expected):
    done = rlm(command, "--help")
    assert done.returncode == 0
    assert "examples:" in done.stdout
    for text in expected:
        assert text in done.stdout


def test_help_loads_neither_litellm_nor_the_engine():
    loaded = modules_loaded_by("from rlm.cli import main\ntry:\n    main(['run', '--help'])\n"
                               "except SystemExit:\n    pass")
    assert not {m for m in loaded if m.split(".")[0] in ("litellm", "textual", "rich",
                                                          "tiktoken", "ollama", "groq")}
    assert "rlm.core.engine" not in loaded and "rlm.core.agent" not in loaded


def test_version():
    from rlm import __version__

    done = rlm("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"rlm {__version__}")


def test_no_command_prints_help_and_exits_2():
    done = rlm()
    assert done.returncode == 2 and "usage: rlm" in done.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["run"], "No question. Usage: rlm run \"your question\""),
    (["run", "q", "--context", "/no/such/file"], "--context /no/such/file: no such file"),
    (["run", "q", "--profile", "fast"],
     "Unknown profile 'fast'. Shipped profiles: hosted, hybrid, local-only"),
    (["run", "--prompt-file", "/no/such/question.md"], "Cannot read --prompt-file"),
    (["run", "q", "--prompt-file", "q.md"], "as an argument or with --prompt-file, not both"),
    (["run", "--max-steps", "0", "q", "--dry-run"], "max_steps must be a whole number >= 1"),
    (["run", "q", "--context", "-"], "--context - read nothing from stdin"),
])
def test_bad_input_exits_2_with_one_message_and_no_traceback(args, message):
    done = rlm(*args, stdin="")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_argparse_errors_exit_2():
    done = rlm("run", "q", "--max-steps", "many")
    assert done.returncode == 2 and "invalid int value: 'many'" in done.stderr
    both = rlm("run", "q", "--verbose", "--quiet")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_a_local_only_profile_refuses_a_hosted_model_before_any_call():
    done = rlm("run", "q", "--profile", "local-only", "--model", "groq/llama-3.3-70b-versatile",
               "--dry-run", env={"GROQ_API_KEY": "sk-test"})
    assert done.returncode == 2
    assert "Profile 'local-only' is local-only, but the run would use groq/" in done.stderr


@pytest.mark.parametrize("module", ["rlm.cli", "rlm.cli.run", "rlm.cli.dryrun", "rlm.cli.models",
                                    "rlm.cli.replay", "rlm.cli.progress", "rlm.trace.load",
                                    "rlm.cli.official", "rlm.profiles", "rlm.llm.router",
                                    "rlm.paths"])
def test_command_modules_import_neither_the_screen_nor_litellm(module):
    loaded = modules_loaded_by(f"import {module}")
    assert not {m for m in loaded if m.split(".")[0] in ("textual", "rich", "tui", "litellm")}


def test_an_unwritable_trace_path_is_bad_input(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = rlm("run", "q", "--model", "ollama/llama3", "--trace", str(blocker / "t.jsonl"))
    assert done.returncode == 2
    assert f"Cannot write the trace to {blocker / 't.jsonl'}" in done.stderr
