"""``rlm run``: settings, context, live progress, Ctrl-C, output and exit code."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from rlm.cli.main import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_NO_ANSWER, EXIT_OK, fail
from rlm.errors import ConfigError, ContextError, ModelError, RLMError

FLAG_SETTINGS = ("model", "sub_model", "api_base", "max_depth", "max_steps", "action_timeout")


@dataclass
class Plan:
    """Everything a run needs, resolved from flags, profile and environment."""

    question: str
    context: Any
    settings: dict[str, Any]
    profile: Any = None
    client: Any = None
    trace: Path | None = None
    notes: list[str] = field(default_factory=list)


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


# --- the plan ---------------------------------------------------------------------------
def make_plan(args) -> Plan:
    question = read_question(args)
    settings: dict[str, Any] = {}
    profile = None
    if args.profile:
        from rlm.profiles import load_profile

        profile = load_profile(args.profile)
        settings.update(profile.settings)
    settings.update({k: getattr(args, k) for k in FLAG_SETTINGS if getattr(args, k) is not None})
    check_settings(settings, profile)
    plan = Plan(question=question, context=read_context(args.context), settings=settings,
                profile=profile)
    if profile is not None:
        plan.client = profile.make_client()
    if not args.dry_run:
        plan.trace = Path(args.trace).expanduser() if args.trace else _default_trace()
        check_writable(plan.trace)
    return plan


def check_writable(path: Path) -> None:
    """Fail before the run when the trace cannot be written (not halfway through it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ConfigError(f"Cannot write the trace to {path}: {exc.strerror or exc}. Pass "
                          f"--trace with a writable path.") from None


def check_settings(settings: dict[str, Any], profile) -> None:
    """Fail on a bad value or a model a local-only profile forbids, before any network."""
    from rlm.config import Settings

    resolved = Settings.resolve(**settings)
    if profile is not None:
        profile.check_models([resolved.model, resolved.sub_model,
                              *resolved.depth_models.values()])


def read_question(args) -> str:
    if args.prompt_file:
        if args.question:
            raise ConfigError("Give the question as an argument or with --prompt-file, not both.")
        try:
            question = Path(args.prompt_file).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Cannot read --prompt-file {args.prompt_file}: "
                              f"{getattr(exc, 'strerror', None) or exc}.") from None
    else:
        question = args.question or ""
    if not question.strip():
        raise ConfigError('No question. Usage: rlm run "your question" [--context PATH]; '
                          'see rlm run --help.')
    return question


def read_context(value: str | None) -> Any:
    """``-`` reads stdin as text; a path stays a ``Path`` (the engine reads it)."""
    if value is None:
        return None
    if value == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise ContextError("--context - reads the context from stdin, but nothing is "
                               "piped in. Example: cat notes.txt | rlm run \"...\" --context -")
        data = sys.stdin.buffer.read()
        if not data:
            raise ContextError("--context - read nothing from stdin. Pipe the context in: "
                               "cat notes.txt | rlm run \"...\" --context -")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ContextError("The context on stdin is not UTF-8 text. Save it to a file "
                               "and pass --context FILE, or convert it to UTF-8.") from None
    path = Path(value).expanduser()
    if not path.exists():
        raise ContextError(f"--context {value}: no such file or folder. Use - for stdin.")
    return path


def _default_trace() -> Path:
    from rlm.paths import new_trace_path

    return new_trace_path()


def resolve_models(plan: Plan) -> list[str]:
    """Pick the root model (RLM_MODEL or a pulled Ollama model) and check the profile."""
    from rlm.config import Settings
    from rlm.llm.resolve import resolve_model

    settings = Settings.resolve(**plan.settings)
    model, note = resolve_model(settings.model)
    if not settings.model:  # picked for the user: say which
        plan.notes.append(note)
    plan.settings["model"] = settings.model = model
    models = list(dict.fromkeys([model, settings.query_model or model,
                                 *settings.depth_models.values()]))
    if plan.profile is not None:
        plan.profile.check_models(models)
    return models


async def preflight_all(plan: Plan, models: list[str]) -> list[str]:
    """Check every model the run may call; returns warnings (hosts of a group that are down).

    Raises:
        ModelError: a model cannot be used (the message says what to do).
    """
    from rlm.llm.resolve import preflight

    api_base = plan.settings.get("api_base")
    groups = plan.client.groups if plan.client is not None else {}
    warnings: list[str] = []
    for model in models:
        if model not in groups:
            await preflight(model, api_base=api_base)
            continue
        deployments = [d for d in plan.client.deployments if d.name == model]
        errors: list[ModelError] = []
        for d in deployments:
            try:
                await preflight(d.model,
                                api_base=d.api_base or plan.client.default_base(d.model))
            except ModelError as exc:
                errors.append(exc)
        if len(errors) == len(deployments):
            raise errors[0]
        warnings += [f"one deployment of {model} is not usable: {e}" for e in errors]
    return warnings


# --- the run ----------------------------------------------------------------------------
def execute(plan: Plan, args) -> int:
    import asyncio

    from rlm import RLM
    from rlm.cli.progress import Progress

    models = resolve_models(plan)
    if plan.client is not None:  # the engine preflights only the models it calls itself
        for warning in asyncio.run(preflight_all(plan, models)):
            print(f"rlm: warning: {warning}", file=sys.stderr)
    progress = None if args.quiet else Progress(sys.stderr, verbose=args.verbose)
    rlm = RLM(client=plan.client, on_event=progress, trace=plan.trace, **plan.settings)
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
