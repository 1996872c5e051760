"""The ``rlm`` command: ``rlm run``, ``rlm models``, ``rlm replay``, ``rlm mcp``, ``rlm eval``.

Only argparse is imported here, so ``rlm --help`` answers at once; each command's module
(and litellm, when a model is called) loads after the arguments are parsed.
Exit codes: 0 an answer (also a best answer after a limit), 1 no answer, 2 bad input or
settings (including a model that cannot be reached before the run starts), 130 cancelled.
"""

from __future__ import annotations

import argparse
import os
import sys

from rlm.config import add_setting_flags

EXIT_OK, EXIT_NO_ANSWER, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130

DESCRIPTION = """\
Recursive Language Models, local first. The long input (the context) never enters the
chat: it is the variable `context` in a Python sandbox, and the model writes code to read
it, calling sub-models and child agents on pieces of it."""

MAIN_EPILOG = """\
examples:
  rlm run "What is the magic number?" --context haystack.txt
  cat notes.md | rlm run "Summarise the decisions" --context - --json
  rlm run "Which file defines main()?" --context src/ --profile hybrid
  rlm models
  rlm replay ~/.local/share/rlm/traces/run-20250101-120000-ab12.jsonl
  rlm mcp                         # an MCP server over stdio, for coding assistants
  rlm eval --lengths 8k,32k --model ollama_chat/qwen2.5:7b

settings: flags > --profile > environment (RLM_MODEL, RLM_SUB_MODEL, RLM_API_BASE,
RLM_MAX_DEPTH, RLM_MAX_STEPS, ...) > .env > defaults. Keys come from the usual provider
variables (GROQ_API_KEY, OPENAI_API_KEY, ...); OLLAMA_HOST points at an Ollama server.

exit codes: 0 answered (also a best answer after a limit), 1 no answer,
2 bad input or settings (model not pulled, server down, key missing), 130 cancelled."""

RUN_EPILOG = """\
examples:
  rlm run "What is the magic number?" --context haystack.txt
  rlm run "List every TODO with its file" --context ./src --model ollama/qwen2.5-coder:7b
  cat log.txt | rlm run "When did the first error happen?" --context -
  rlm run --prompt-file question.md --context data.json --json > result.json
  rlm run "Compare the two reports" --context reports/ --profile hybrid --verbose
  rlm run "..." --context big.txt --dry-run     # check settings and size, no model call

The answer goes to stdout (with --json: one JSON object with answer, status, limit_hit,
usage, trace and agents). Progress goes to stderr. Every run writes a trace (JSON Lines)
to ~/.local/share/rlm/traces/ unless --trace says where; `rlm replay` reads it.
Ctrl-C cancels the run cleanly (exit 130); a second Ctrl-C quits at once."""

MODELS_EPILOG = """\
examples:
  rlm models                      # the local Ollama server and its models
  OLLAMA_HOST=gpu-box:11434 rlm models
  rlm models --json"""

REPLAY_EPILOG = """\
examples:
  rlm replay                                    # the latest run
  rlm replay run-20250101-120000-ab12.jsonl     # a past run's tree and steps
  rlm replay run.jsonl --full                   # whole texts, not their first lines
  rlm replay run.jsonl --export official run-official.jsonl

--export official writes the run in the trajectory format of the official RLM visualizer
(github.com/alexzhang13/rlm, visualizer/): a metadata line, then one line per iteration of
the root agent, child agents nested in their sub-call's metadata."""

MCP_EPILOG = """\
examples:
  claude mcp add rlm -- uv run --project /path/to/rlm rlm mcp     # Claude Code
  uv run --project /path/to/rlm rlm mcp    # the command any MCP client starts (stdio)

tools: run_task (question; context_path or context_text; optional model, sub_model,
profile and limits; returns answer, status, usage and the trace path, with progress while
it runs; cancelling the call cancels the run), list_models, replay_trace.

Settings come from the server's environment and .env, as for rlm run: a client's config
can set them (for example "env": {"OLLAMA_HOST": "http://gpu-box:11434"}).
Needs the MCP SDK: pip install 'rlm[mcp]' (a checkout's dev environment has it)."""


def build_parser() -> argparse.ArgumentParser:
    from rlm import __version__

    parser = argparse.ArgumentParser(
        prog="rlm", description=DESCRIPTION, epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"rlm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(commands)
    _add_chat(commands)
    _add_models(commands)
    _add_replay(commands)
    _add_mcp(commands)
    from rlm.cli.evalargs import add_eval

    add_eval(commands)
    return parser


def _add_run(commands) -> None:
    run = commands.add_parser(
        "run", help="answer a question about a context", epilog=RUN_EPILOG,
        description="Answer QUESTION about a context with a tree of agents.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("question", nargs="?", metavar="QUESTION",
                     help="the question or task (or use --prompt-file)")
    run.add_argument("--context", metavar="PATH|-",
                     help="a text file, a folder (every text file in it), or - for stdin")
    run.add_argument("--prompt-file", metavar="F", help="read the question from file F")
    add_setting_flags(run)  # --model, --max-depth, ...: declared in rlm.config
    run.add_argument("--profile", metavar="NAME|FILE",
                     help="settings from a profile: local-only, hybrid, hosted, or a .toml file")
    run.add_argument("--trace", metavar="FILE",
                     help="write the trace here (default: a new file under "
                          "~/.local/share/rlm/traces/)")
    run.add_argument("--json", action="store_true",
                     help="print one JSON object (answer, status, usage, trace, agents)")
    out = run.add_mutually_exclusive_group()
    out.add_argument("-v", "--verbose", action="store_true",
                     help="show every agent's steps (thoughts, code, observations)")
    out.add_argument("-q", "--quiet", action="store_true",
                     help="no progress on stderr; only the answer (errors still show)")
    run.add_argument("--dry-run", action="store_true",
                     help="check settings, model reachability and context size; "
                          "no model call")
    run.set_defaults(handler="rlm.cli.run:run_command")


CHAT_EPILOG = """\
examples:
  rlm chat --context notes.md                     # ask, read the answer, ask again
  rlm chat --context logs/ --model ollama/qwen2.5-coder:7b
  printf 'How many errors?\\nWhich is the oldest?\\n' | rlm chat --context app.log -q

Every question runs on the same sandbox: variables survive, earlier questions and answers
are the variable `turns` and a short recap. Commands: /context PATH, /model M, /reset,
/tree, /help, /exit. Ctrl-C stops the running question and keeps the conversation;
Ctrl-D leaves. One trace holds every turn (--trace FILE)."""


def _add_chat(commands) -> None:
    chat = commands.add_parser(
        "chat", help="a conversation: follow-up questions over one sandbox", epilog=CHAT_EPILOG,
        description="Ask questions one after the other about one context; answers on stdout, "
                    "the live tree on stderr.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    chat.add_argument("--context", metavar="PATH|-",
                      help="a text file, a folder, or - for stdin (then questions come from "
                           "the terminal only)")
    add_setting_flags(chat)
    chat.add_argument("--profile", metavar="NAME|FILE",
                      help="settings from a profile: local-only, hybrid, hosted, or a .toml file")
    chat.add_argument("--trace", metavar="FILE", help="write every turn's events here")
    out = chat.add_mutually_exclusive_group()
    out.add_argument("-v", "--verbose", action="store_true",
                     help="show every agent's steps (thoughts, code, observations)")
    out.add_argument("-q", "--quiet", action="store_true",
                     help="no prompt and no progress: questions in, answers out")
    chat.set_defaults(handler="rlm.cli.chat:chat_command")


def _add_models(commands) -> None:
    models = commands.add_parser(
        "models", help="local models and whether the server is up", epilog=MODELS_EPILOG,
        description="Is the Ollama server up, where, which models are pulled (size, context "
                    "length); which hosted providers have a key set.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    models.add_argument("--json", action="store_true", help="print one JSON object")
    models.add_argument("--profile", metavar="NAME|FILE",
                        help="also check each host of the profile's [[deployments]]: up, the "
                             "model there, its window and slots")
    models.set_defaults(handler="rlm.cli.models:models_command")


def _add_replay(commands) -> None:
    replay = commands.add_parser(
        "replay", help="print a past run's tree and steps", epilog=REPLAY_EPILOG,
        description="Print a past run from its trace: the tree of agents and each agent's "
                    "steps. Works on cut-off traces too.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    replay.add_argument("trace", nargs="?", metavar="TRACE",
                        help="a trace file (default: the latest run's)")
    replay.add_argument("--export", nargs=2, metavar=("FORMAT", "FILE"),
                        help="write the run in another format instead: official FILE")
    replay.add_argument("--full", action="store_true",
                        help="whole texts (thinking, replies, code, outputs) instead of their "
                             "first lines")
    replay.set_defaults(handler="rlm.cli.replay:replay_command")


def _add_mcp(commands) -> None:
    mcp = commands.add_parser(
        "mcp", help="an MCP server over stdio, for coding assistants", epilog=MCP_EPILOG,
        description="Serve rlm's tools over the Model Context Protocol on stdin/stdout, for "
                    "MCP clients (Claude Code, Cursor, Zed, ...): hand a long input and a "
                    "question to a local RLM and get the answer.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    mcp.set_defaults(handler="rlm.mcp.command:mcp_command")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rlm`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(_eval_run_by_default(sys.argv[1:] if argv is None else argv))
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    _prepare_environment()
    module, name = args.handler.split(":")
    import importlib

    handler = getattr(importlib.import_module(module), name)
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("\nrlm: cancelled.", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:  # `rlm ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _eval_run_by_default(argv: list[str]) -> list[str]:
    """``rlm eval [flags]`` means ``rlm eval run [flags]`` (``rlm eval report FILE`` and
    ``rlm eval --help`` stay as they are)."""
    if argv[:1] == ["eval"] and (len(argv) == 1 or argv[1] not in ("run", "report", "-h",
                                                                  "--help")):
        return ["eval", "run", *argv[1:]]
    return argv


def _prepare_environment() -> None:
    """What every command needs first: the .env file, litellm kept offline."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        from dotenv import find_dotenv, load_dotenv
    except ImportError:  # python-dotenv is a dependency; a broken install still runs
        return
    load_dotenv(find_dotenv(usecwd=True))


def fail(error: BaseException | str, code: int = EXIT_BAD_INPUT) -> int:
    """Print ``error`` as one paragraph on stderr (never a traceback); return ``code``."""
    print(f"rlm: {error}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
