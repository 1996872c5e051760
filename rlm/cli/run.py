"""``rlm run``: settings, context, live progress, Ctrl-C, output and exit code."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any, Self

from rlm.cli.main import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_NO_ANSWER, EXIT_OK, fail
from rlm.cli.plan import Plan, make_engine, make_plan
from rlm.errors import ConfigError, ContextError, ModelError, RLMError


def run_command(args) -> int:
    try:
        plan = make_plan(args)
        if args.dry_run:
            from rlm.cli.dryrun import dry_run

            return dry_run(plan, args)
        return execute(plan, args)
    except RLMError as exc:
        return fail(exc, exit_code_for(exc))


def exit_code_for(error: RLMError) -> int:
    """Errors raised before a run starts are bad input or settings: exit 2.

    That includes a model that cannot be used (server down, model not pulled, key
    missing): the user fixes a setting, not the run. Other errors keep their own code.
    """
    if isinstance(error, (ConfigError, ContextError, ModelError)):
        return EXIT_BAD_INPUT
    return error.exit_code


# --- the run ----------------------------------------------------------------------------
def execute(plan: Plan, args) -> int:
    from rlm.cli.progress import Progress

    progress = None if args.quiet else Progress(sys.stderr, verbose=args.verbose)
    rlm, warnings = make_engine(plan, on_event=progress)
    for warning in warnings:
        print(f"rlm: warning: {warning}", file=sys.stderr)
    for note in plan.notes:
        if progress is not None:
            progress.note(f"rlm: {note}")
    with CancelOnSignal(rlm, progress):
        try:
            result = rlm.completion(plan.question, plan.context)
        finally:
            if progress is not None:
                progress.close()
    return report(result, args)


def report(result, args) -> int:
    """Answer on stdout (or the JSON object), a summary on stderr; the exit code."""
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.answer:
        print(result.answer)
    if not args.quiet:
        print(summary(result), file=sys.stderr)
    elif not result.ok and result.error:
        print(f"rlm: {result.status}: {result.error}", file=sys.stderr)
    if result.status == "cancelled":
        return EXIT_CANCELLED
    return EXIT_OK if result.ok else EXIT_NO_ANSWER


def summary(result) -> str:
    from rlm.cli.progress import plural

    agents = result.agents
    steps = sum(a.steps for a in agents)
    usage = result.usage
    head = {"answered": "answered", "limit": f"best answer after the {result.limit_hit} limit",
            "failed": "no answer", "cancelled": "cancelled"}.get(result.status, result.status)
    if result.status == "limit" and not result.answer:
        head = f"no answer: stopped by the {result.limit_hit} limit"
    lines = [(f"rlm: {head} in {result.seconds:.1f} s; {plural(len(agents), 'agent')}, "
              f"{plural(steps, 'step')}, {plural(usage.total_tokens, 'token')} "
              f"({plural(usage.calls, 'call')}), ${usage.cost_usd:.4f}")]
    if result.error and result.status != "answered":
        lines.append(f"rlm: {result.error}")
    if result.trace_path:
        lines.append(f"rlm: trace: {result.trace_path}  (rlm replay {result.trace_path})")
    return "\n".join(lines)


class CancelOnSignal:
    """Ctrl-C (or SIGTERM) cancels the run cleanly; a second one exits at once.

    ``RLM.cancel`` ends every agent and kills every sandbox; the engine then closes the
    trace and returns a result with status ``cancelled`` (exit 130).
    """

    def __init__(self, rlm, progress=None):
        self.rlm = rlm
        self.progress = progress
        self.count = 0
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.count > 1:
            os._exit(EXIT_CANCELLED)
        # The handler runs in the main thread, which may hold the engine's or the
        # display's lock right now: do the work from another thread.
        threading.Thread(target=self._cancel, name="rlm-cancel", daemon=True).start()

    def _cancel(self) -> None:
        message = "rlm: cancelling... (Ctrl-C again to quit at once)"
        if self.progress is not None:
            self.progress.note(message)
        else:
            print(message, file=sys.stderr, flush=True)
        self.rlm.cancel()
