"""The plan of a run: question, context, settings, profile and models, resolved from the
command line, the profile and the environment, and checked before any model is called.

``rlm run`` executes a plan; ``rlm run --dry-run`` prints it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm.config import DECLARED, Settings
from rlm.errors import ConfigError, ContextError, ModelError
from rlm.profiles import Profile

# The settings a command takes as flags (their declarations say so).
FLAG_SETTINGS = tuple(d.name for d in DECLARED if d.flag)


@dataclass
class Plan:
    """Everything a run needs, resolved once from flags, profile and environment."""

    question: str
    context: Any
    settings: Settings
    profile: Profile | None = None
    client: Any = None
    trace: Path | None = None
    notes: list[str] = field(default_factory=list)


def settings_of(args: Any) -> tuple[Settings, Profile | None]:
    """The settings of the command line, resolved once: flags > ``--profile`` > environment
    > defaults; a model a local-only profile forbids fails here, before any network."""
    profile = None
    if getattr(args, "profile", None):
        from rlm.profiles import load_profile

        profile = load_profile(args.profile)
    settings = Settings.resolve(profile=profile.settings if profile else None,
                                **{k: getattr(args, k, None) for k in FLAG_SETTINGS})
    if profile is not None:
        profile.check_models(settings.models())
    return settings, profile


def make_plan(args) -> Plan:
    question = read_question(args)
    settings, profile = settings_of(args)
    plan = Plan(question=question, context=read_context(args.context), settings=settings,
                profile=profile)
    if profile is not None and profile.deployments:  # else the engine builds its client
        from rlm.llm.factory import make_model

        plan.client = make_model(settings, deployments=profile.deployments,
                                 router_options=profile.router)
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
    from rlm.llm.resolve import resolve_model

    settings = plan.settings
    model, note = resolve_model(settings.model)
    if not settings.model:  # picked for the user: say which
        plan.notes.append(note)
    settings.model = model
    models = settings.models()
    if plan.profile is not None:
        plan.profile.check_models(models)
    return models


async def preflight_all(plan: Plan, models: list[str]) -> list[str]:
    """Check every model the run may call; returns warnings (hosts of a group that are down).

    Raises:
        ModelError: a model cannot be used (the message says what to do).
    """
    from rlm.llm.resolve import preflight

    api_base = plan.settings.api_base
    deployments = plan.profile.deployments if plan.profile else []
    warnings: list[str] = []
    for model in models:
        hosts = [d for d in deployments if d.name == model]
        if not hosts:
            await preflight(model, api_base=api_base)
            continue
        errors: list[ModelError] = []
        for d in hosts:
            try:
                await preflight(d.model, api_base=d.api_base or api_base)
            except ModelError as exc:
                errors.append(exc)
        if len(errors) == len(hosts):
            raise errors[0]
        warnings += [f"one deployment of {model} is not usable: {e}" for e in errors]
    return warnings


def make_engine(plan: Plan, on_event: Any = None) -> tuple[Any, list[str]]:
    """The ``RLM`` of a plan, and the warnings of its checks: the models resolved, a
    profile's deployments checked (the engine preflights only the models it calls itself),
    the profile's tools given to it. Blocking (``asyncio.run``)."""
    import asyncio

    from rlm import RLM

    models = resolve_models(plan)
    warnings = asyncio.run(preflight_all(plan, models)) if plan.client is not None else []
    rlm = RLM(client=plan.client, on_event=on_event, trace=plan.trace, settings=plan.settings,
              tools=plan.profile.tools if plan.profile else None)
    return rlm, warnings
