"""``rlm run --dry-run``: resolve settings, check the models, size the context; no model call."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rlm.cli.main import EXIT_OK
from rlm.cli.plan import preflight_all, resolve_models
from rlm.config import Settings


def dry_run(plan, args) -> int:
    """Print what the run would do (stdout; ``--json``: one object). Raises ``RLMError``."""
    models = resolve_models(plan)
    warnings = asyncio.run(preflight_all(plan, models))
    settings = plan.settings
    facts = size_context(plan, settings)
    from rlm.core.run import sandbox_report

    facts.update(models=models, warnings=warnings, notes=plan.notes,
                 sandbox=sandbox_report(settings),
                 settings=settings.public(),
                 profile=plan.profile.name if plan.profile is not None else None,
                 deployments=[{"model": d.model, "name": d.name, "api_base": d.api_base}
                              for d in (plan.profile.deployments if plan.profile else [])])
    if args.json:
        print(json.dumps({"dry_run": True, **facts}, ensure_ascii=False, default=str))
    else:
        print(render(facts, settings))
    return EXIT_OK


def size_context(plan, settings) -> dict[str, Any]:
    """Facts about the context and token counts of the first call, without calling a model."""
    from rlm.context import prepare_context, read_folder
    from rlm.core import prompts
    from rlm.llm import pricing, tokens

    value = plan.question if plan.context is None else plan.context
    folder = Path(tempfile.mkdtemp(prefix="rlm-dry-"))
    try:
        source = prepare_context(value, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    info = dict(source.info)
    text = _as_text(value, read_folder)
    model, sub_model = settings.model, settings.query_model or settings.model
    messages = [{"role": "system", "content": prompts.system_prompt(info)},
                {"role": "user", "content": prompts.first_message(
                    plan.question, info, task_is_context=plan.context is None)}]
    context_tokens = tokens.count_tokens(text, model)
    first_tokens = tokens.count_messages(messages, model)
    api_base = settings.api_base
    return {
        "question": plan.question,
        "context": {k: v for k, v in info.items() if k != "preview"},
        "context_tokens": context_tokens,
        "first_call_tokens": first_tokens,
        "windows": {name: _window(name, settings) for name in dict.fromkeys([model, sub_model])},
        "first_call_cost_usd": pricing.cost_usd(model, first_tokens, 0, api_base),
        "read_all_once_cost_usd": pricing.cost_usd(sub_model, context_tokens, 0, api_base),
    }


def _as_text(value: Any, read_folder) -> str:
    if isinstance(value, Path):
        if value.is_dir():
            return "\n".join(read_folder(value)[0].values())
        return value.read_text(encoding="utf-8")
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _window(model: str, settings: Settings) -> dict[str, Any]:
    """The model's window as the run will use it (``rlm.llm.windows``)."""
    from rlm.core.budget import Windows, prompt_limit, reply_room

    window = asyncio.run(Windows(settings).get(model))
    return {**window.to_dict(), "reply_room": reply_room(window, settings),
            "prompt_limit": prompt_limit(window, settings)}


def render(facts: dict[str, Any], settings) -> str:
    ctx = facts["context"]
    size = ", ".join(f"{ctx[k]:,} {k}" for k in ("chars", "bytes", "lines", "items")
                     if isinstance(ctx.get(k), int))
    where = ctx.get("path") or ("the question itself" if facts["question"] and
                                ctx.get("source") is None else "given text")
    window = facts["windows"][settings.model]["running"]
    times = (f" ({facts['context_tokens'] / window:.1f}x the model's {window:,}-token window; "
             f"the agents read it through code)" if window else "")
    limits = (f"max_depth {settings.max_depth}, max_steps {settings.max_steps}, max_agents "
              f"{settings.max_agents}, action_timeout {settings.action_timeout:g} s, "
              f"max_concurrency {settings.max_concurrency or 'per server'}")
    extra = [f"{k} {getattr(settings, k)}" for k in ("timeout", "max_tokens", "max_cost")
             if getattr(settings, k) is not None]
    lines = ["Dry run: settings and models checked; no model was called.",
             f"  question:   {_short(facts['question'])}",
             f"  model:      {settings.model}  (reachable)",
             f"  sub_model:  {settings.query_model or settings.model}",
             *(f"  window:     {name}: {_window_words(w)}"
               for name, w in facts["windows"].items()),
             f"  context:    {where}: {ctx.get('type', '?')}, {size}",
             f"              about {facts['context_tokens']:,} tokens{times}",
             (f"  first call: about {facts['first_call_tokens']:,} prompt tokens "
              f"(${facts['first_call_cost_usd']:.4f})"),
             (f"  reading the whole context once with the sub model: about "
              f"${facts['read_all_once_cost_usd']:.4f} in prompt tokens"),
             f"  limits:     {limits}" + (", " + ", ".join(extra) if extra else ""),
             (f"  sandbox:    files {facts['sandbox']['files']}, network "
              f"{facts['sandbox']['network']}")]
    if settings.depth_models:
        lines.append("  by depth:   " + ", ".join(f"{d}: {m}" for d, m in
                                                sorted(settings.depth_models.items())))
    if facts["profile"]:
        lines.append(f"  profile:    {facts['profile']}")
    for d in facts["deployments"]:
        lines.append(f"  deployment: {d['name']} -> {d['model']} at {d['api_base'] or 'default'}")
    lines += [f"  note:       {n}" for n in facts["notes"]]
    lines += [f"  warning:    {w}" for w in facts["warnings"]]
    return "\n".join(lines)


def _window_words(window: dict[str, Any]) -> str:
    """``runs at 4,096 tokens of its trained 131,072 (why); reply room 1,024``."""
    running, trained = window["running"], window["trained"]
    if not running:
        return "unknown (nothing is checked; set RLM_NUM_CTX if the server has a limit)"
    of = f" of its trained {trained:,}" if trained and trained != running else ""
    sent = ", sent as num_ctx" if window["num_ctx"] else ""
    think = "; can think" if window["thinking"] else ""
    return (f"runs at {running:,} tokens{of} ({window['source']}{sent}); "
            f"{window['reply_room']:,} kept for each reply{think}")


def _short(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."
