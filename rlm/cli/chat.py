"""``rlm chat``: a conversation in a plain terminal, every question on the same sandbox.

A prompt on a terminal (line editing and history with readline), the live tree on stderr
while a turn works, the answer on stdout. Slash commands change the session; Ctrl-C
cancels the running turn and keeps the session; Ctrl-D leaves. With stdin not a terminal it
reads one question per line, so it can be scripted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from rlm.cli.main import EXIT_BAD_INPUT, EXIT_OK, fail
from rlm.cli.plan import read_context
from rlm.errors import RLMError
from rlm.result import RLMResult

HELP = """\
Ask a question, or:
  /context PATH   a new context for the next questions (it becomes `context`;
                  the old one stays as context_<n>)
  /model M        another model for the next questions (litellm name)
  /reset          a fresh sandbox: every variable and earlier turn forgotten
  /tree           the last turn's tree of agents
  /help           this text
  /exit           leave (Ctrl-D too); Ctrl-C stops the running turn"""


def chat_command(args: Any) -> int:
    """The ``rlm chat`` loop; returns the exit code."""
    from rlm import RLM
    from rlm.cli.plan import settings_of

    try:
        settings, profile = settings_of(args)
        context = read_context(args.context) if args.context else None
        rlm = RLM(settings=settings, tools=profile.tools if profile else None)
        session = rlm.session(context, trace=args.trace)
    except RLMError as exc:
        return fail(exc, EXIT_BAD_INPUT)
    chat = Chat(rlm, session, interactive=sys.stdin.isatty() and not args.quiet,
                verbose=args.verbose, quiet=args.quiet)
    try:
        chat.loop()
    finally:
        session.close()
    return EXIT_OK


class Chat:
    """Reads questions and commands, runs turns, prints answers."""

    def __init__(self, rlm: Any, session: Any, *, interactive: bool, verbose: bool = False,
                 quiet: bool = False):
        self.rlm, self.session = rlm, session
        self.interactive, self.verbose, self.quiet = interactive, verbose, quiet
        self.last: RLMResult | None = None
        self.next_context: Any = None  # a /context for the next question
        if interactive:
            _readline_history()

    def loop(self) -> None:
        if self.interactive:
            print("rlm chat: ask a question; /help for commands, Ctrl-D to leave.",
                  file=sys.stderr)
        while True:
            try:
                line = input("rlm> " if self.interactive else "")
            except EOFError:
                return
            except KeyboardInterrupt:  # at the prompt: a fresh line, as a shell does
                print(file=sys.stderr)
                continue
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if self.command(line) == "exit":
                    return
                continue
            self.ask(line)

    def ask(self, question: str) -> None:
        from rlm.cli.progress import Progress
        from rlm.cli.run import summary

        progress = None if self.quiet else Progress(sys.stderr, verbose=self.verbose)
        unsubscribe = self.session.subscribe(progress) if progress else None
        try:
            context, self.next_context = self.next_context, None
            result = self.session.ask(question, context)
        except RLMError as exc:
            print(f"rlm: {exc}", file=sys.stderr)
            return
        finally:
            if progress is not None:
                progress.close()
            if unsubscribe is not None:
                unsubscribe()
        self.last = result
        if result.answer:
            print(result.answer, flush=True)
        if not self.quiet:
            print(summary(result), file=sys.stderr)

    def command(self, line: str) -> str:
        name, _, rest = line.partition(" ")
        rest = rest.strip()
        if name in ("/exit", "/quit"):
            return "exit"
        try:
            if name == "/help":
                print(HELP, file=sys.stderr)
            elif name == "/context" and rest:
                self.next_context = read_context(rest)
                print(f"rlm: the next question gets {rest} as its context.", file=sys.stderr)
            elif name == "/model" and rest:
                self.switch_model(rest)
            elif name == "/reset":
                self.session.restart()
                print("rlm: a fresh sandbox; earlier turns are forgotten.", file=sys.stderr)
            elif name == "/tree":
                self.show_tree()
            else:
                print(f"rlm: unknown command {line!r}; /help lists them.", file=sys.stderr)
        except RLMError as exc:
            print(f"rlm: {exc}", file=sys.stderr)
        return ""

    def switch_model(self, model: str) -> None:
        from rlm.llm.providers import check_model_string

        self.rlm.settings.model = check_model_string(model)
        print(f"rlm: the next questions go to {model}.", file=sys.stderr)

    def show_tree(self) -> None:
        from rlm.cli.progress import short

        if self.last is None or self.last.tree is None:
            print("rlm: no turn yet.", file=sys.stderr)
            return
        for node in self.last.tree.walk():
            print(f"{'  ' * node.depth}{node.agent_id} {node.status:<9} {node.steps} steps  "
                  f"{short(node.task, 60)}", file=sys.stderr)


def _readline_history() -> None:
    """Line editing, and questions remembered across chats (a file in rlm's data folder)."""
    try:
        import readline
    except ImportError:  # not on every platform: plain input still works
        return
    from rlm.paths import data_dir

    history = Path(os.environ.get("RLM_CHAT_HISTORY") or data_dir() / "chat_history")
    try:
        history.parent.mkdir(parents=True, exist_ok=True)
        if history.exists():
            readline.read_history_file(history)
    except OSError:
        return
    import atexit

    atexit.register(lambda: _save(readline, history))


def _save(readline: Any, path: Path) -> None:
    try:
        readline.set_history_length(1000)
        readline.write_history_file(path)
    except OSError:
        pass
