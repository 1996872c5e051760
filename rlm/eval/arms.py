"""The arms: the same task run three ways, each with its own model or profile.

``base``: one plain call with the whole context in the prompt (cut to the running window,
saying so); ``rlm``: the RLM; ``rlm-no-sub``: the RLM whose code cannot call llm_query or
rlm_query (the paper's ablation: the REPL alone). ``run_one`` runs one task on one arm
and returns its result line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm.config import Settings
from rlm.errors import MissingKey, ModelError, ModelNotFound, ServerUnreachable
from rlm.eval.scoring import score
from rlm.eval.tasks import Task
from rlm.llm import Model
from rlm.llm.router import Deployment

ARMS = ("base", "rlm", "rlm-no-sub")
ARM_HELP = {"base": "the whole context in one prompt, cut to the model's running window",
            "rlm": "the RLM: the context in a sandbox, code, sub-calls and child agents",
            "rlm-no-sub": "the RLM without llm_query/rlm_query: the REPL alone (ablation)"}
# Errors that would fail every task the same way: stop the eval and say what to fix.
FATAL = (ServerUnreachable, ModelNotFound, MissingKey)


@dataclass
class Arm:
    """One arm: its name, the settings of its runs, and its profile's deployments.

    Plain data, so that it travels to a Ray worker as it is; the client is built where the
    arm runs (``client_for``).
    """

    name: str
    settings: Settings
    profile: str | None = None
    deployments: list[Deployment] = field(default_factory=list)
    router: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.settings.model or "?"

    def run_settings(self) -> Settings:
        """The settings of one run of this arm (no sub-calls for ``rlm-no-sub``)."""
        return dataclasses.replace(self.settings, sub_calls=self.name != "rlm-no-sub")

    def client_for(self, env: Mapping[str, str] | None = None) -> Model | None:
        """The client of a profile's deployments, or ``None`` (the engine's own)."""
        if not self.deployments:
            return None
        from rlm.llm.factory import make_model

        return make_model(self.settings, deployments=self.deployments,
                          router_options=self.router, env=env)


def result_key(task_id: str, arm: str, model: str) -> str:
    """What makes a result line unique: a rerun skips a key already in the file."""
    return f"{task_id}|{arm}|{model}"


Started = Callable[[Callable[[], None]], None]


def run_one(task: Task, arm: Arm, *, client: Model | None = None, trace_dir: Path | None = None,
            env: Mapping[str, str] | None = None, on_start: Started | None = None,
            ) -> dict[str, Any]:
    """Run ``task`` on ``arm`` and return its result line (``status`` ``cancelled`` when
    cancelled: such a line is not kept).

    Args:
        client: a model client to use instead of building one (tests: a ``ScriptedModel``).
        trace_dir: where the RLM arms write their traces (``None``: no trace).
        on_start: receives a function that cancels this run (from any thread).

    Raises:
        ServerUnreachable, ModelNotFound, MissingKey: no task of this arm could run.
    """
    client = client or arm.client_for(env)
    started = time.time()
    if arm.name == "base":
        line = _run_base(task, arm, client, env, on_start)
    else:
        line = _run_rlm(task, arm, client, env, on_start, trace_dir)
    line.setdefault("seconds", round(time.time() - started, 3))
    if line["status"] != "cancelled":
        line["score"] = score(task.scoring, task.answer, line.get("answer") or "")
    return {"key": result_key(task.task_id, arm.name, arm.model), "task": task.meta(),
            "arm": arm.name, "model": arm.model, "profile": arm.profile, **line,
            "host": socket.gethostname(), "finished_at": time.time()}


def _run_rlm(task: Task, arm: Arm, client: Model | None, env: Mapping[str, str] | None,
             on_start: Started | None, trace_dir: Path | None) -> dict[str, Any]:
    from rlm import RLM

    rlm = RLM(client=client, settings=arm.run_settings(), env=env)
    if on_start is not None:
        on_start(rlm.cancel)
    trace = None
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
        trace = trace_dir / f"{task.task_id}.{arm.name}.{time.time_ns()}.jsonl"
    result = rlm.completion(task.question, task.context, trace=trace)
    usage = result.usage
    return {"answer": result.answer, "status": result.status, "error": result.error,
            "limit_hit": result.limit_hit, "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens, "tokens": usage.total_tokens,
            "cost_usd": usage.cost_usd, "calls": usage.calls, "agents": len(result.agents),
            "seconds": round(result.seconds, 3), "trace_path": result.trace_path, "cut": None}


def _run_base(task: Task, arm: Arm, client: Model | None, env: Mapping[str, str] | None,
              on_start: Started | None) -> dict[str, Any]:
    from rlm.eval.base import ask_base, cut_words

    settings = arm.run_settings()
    if client is None:
        from rlm.llm.factory import make_model

        client = make_model(settings, env=env)

    async def ask() -> dict[str, Any]:
        if on_start is not None:
            loop, me = asyncio.get_running_loop(), asyncio.current_task()

            def cancel() -> None:
                if me is not None:
                    loop.call_soon_threadsafe(me.cancel)

            on_start(cancel)
        try:
            completion, cut = await ask_base(task.question, task.context, client=client,
                                             settings=settings, env=env)
        except asyncio.CancelledError:
            return {"status": "cancelled", "answer": "", "error": "cancelled"}
        except FATAL:
            raise
        except ModelError as exc:  # a provider error or a timeout: this task failed
            return {"status": "failed", "answer": "", "error": str(exc)}
        finally:
            if hasattr(client, "aclose"):
                await client.aclose()
        return {"answer": completion.text.strip(), "status": "answered", "error": None,
                "limit_hit": None, "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "tokens": completion.prompt_tokens + completion.completion_tokens,
                "cost_usd": completion.cost_usd, "calls": 1, "agents": 0,
                "trace_path": None, "cut": cut.to_dict() if cut else None,
                "note": cut_words(cut) or None}

    return asyncio.run(ask())


def make_arm(name: str, *, flags: Mapping[str, Any], model: str | None = None,
             profile: str | None = None, env: Mapping[str, str] | None = None) -> Arm:
    """An arm from the command line: its own model or profile over the shared flags.

    Args:
        name: ``base``, ``rlm`` or ``rlm-no-sub``.
        flags: settings given for every arm (``--model``, ``--max-steps``, ...).
        model: this arm's model (``--arm-model ARM=M``), over ``flags``' and the profile's.
        profile: this arm's profile, a name or a file (``--arm-profile`` or ``--profile``).

    Raises:
        ConfigError: an unknown arm or profile, or a model the profile forbids.
    """
    from rlm.errors import ConfigError

    if name not in ARMS:
        raise ConfigError(f"Unknown arm {name!r}: the arms are {', '.join(ARMS)}.")
    loaded = None
    if profile:
        from rlm.profiles import load_profile

        loaded = load_profile(profile)
    given = {k: v for k, v in flags.items() if v is not None}
    if model:
        given["model"] = model
    settings = Settings.resolve(env, profile=loaded.settings if loaded else None, **given)
    if loaded is None:
        return Arm(name, settings)
    loaded.check_models(settings.models())
    return Arm(name, settings, profile=loaded.name, deployments=list(loaded.deployments),
               router=dict(loaded.router))


def resolve_models(arms: list[Arm], env: Mapping[str, str] | None = None) -> list[str]:
    """Fix each arm's model (with none set: a model pulled in Ollama); returns notes that
    say which model was picked for the user."""
    from rlm.llm.resolve import resolve_model

    notes = []
    for arm in arms:
        model, note = resolve_model(arm.settings.model, env=env)
        if not arm.settings.model:
            notes.append(f"{arm.name}: {note}")
        arm.settings.model = model
    return notes


async def preflight_arms(arms: list[Arm], env: Mapping[str, str] | None = None) -> None:
    """Check that every model of every arm can answer, before the first task.

    Raises:
        ModelError: one cannot (the message says what to run).
    """
    from rlm.llm.resolve import preflight

    checked: set[tuple[str, str | None]] = set()
    for arm in arms:
        if arm.deployments:  # the Router spreads calls over hosts; a down one is cooled
            continue
        s = arm.settings
        for model in s.models():
            if (model, s.api_base) not in checked:
                checked.add((model, s.api_base))
                await preflight(model, api_base=s.api_base, env=env)
