"""``rlm models``: the Ollama server (up or not, where), its models, hosted providers with keys."""

from __future__ import annotations

import asyncio
import json
import os

from rlm.cli.main import EXIT_OK


def models_command(args) -> int:
    """Print what models there are. Exit 0 whether or not Ollama is up: the report says so."""
    facts = gather()
    if getattr(args, "profile", None):
        from rlm.cli.main import EXIT_BAD_INPUT, fail
        from rlm.errors import RLMError

        try:
            facts["deployments"] = asyncio.run(profile_hosts(args.profile))
        except RLMError as exc:
            return fail(exc, EXIT_BAD_INPUT)
    if args.json:
        print(json.dumps(facts, ensure_ascii=False))
    else:
        print(render(facts))
    return EXIT_OK


def gather() -> dict:
    """Ollama's state and models, and the hosted providers whose key is set (no key values)."""
    from rlm.errors import ServerUnreachable
    from rlm.llm.hosted import HOSTED_DEFAULTS, hosted_providers
    from rlm.llm.ollama import list_models, ollama_host

    host = ollama_host()
    try:
        local = list_models(host)
        up = True
    except ServerUnreachable:
        local, up = [], False
    return {
        "ollama": {"host": host, "up": up, "from": "OLLAMA_HOST" if os.environ.get(
            "OLLAMA_HOST", "").strip() else "default"},
        "local_models": [{"model": m.model, "name": m.name, "size_bytes": m.size,
                          "parameter_size": m.parameter_size, "family": m.family,
                          "context_length": m.context_length,
                          "window": _window(m, host).to_dict(),
                          "capabilities": list(m.capabilities)} for m in local],
        "hosted_providers": [{"provider": p, "example": HOSTED_DEFAULTS.get(p, f"{p}/<model>")}
                             for p in hosted_providers()],
        "rlm_model": os.environ.get("RLM_MODEL") or None,
        "sandbox": _sandbox(),
    }


def _window(local, host: str):
    """The window ``rlm run`` would run a pulled model at, with the settings here."""
    from rlm.llm.windows import num_ctx_for, ollama_parallel, ollama_window

    settings = _settings()
    asked = num_ctx_for(local.model, settings.model_num_ctx) or settings.num_ctx
    return ollama_window(local.model, host, local.context_length, local.kv_bytes_per_token,
                         local.size, asked=asked, parallel=ollama_parallel(os.environ),
                         thinking="thinking" in local.capabilities)


def _settings():
    """The settings in the environment (defaults if they are broken: ``rlm run`` says what
    is wrong with them)."""
    from rlm.config import Settings
    from rlm.errors import ConfigError

    try:
        return Settings.resolve()
    except ConfigError:
        return Settings()


def _sandbox() -> dict[str, str]:
    """What confines sandbox code with the settings in the environment (defaults if they
    are broken: ``rlm run`` says what is wrong with them)."""
    from rlm.core.run import sandbox_report

    return sandbox_report(_settings())


async def profile_hosts(name: str) -> list[dict]:
    """Each host of a profile's deployments: up or down, the model there or not, the window
    it runs at, its slots."""
    from rlm.errors import ModelError
    from rlm.llm.resolve import preflight
    from rlm.llm.spread import default_slots
    from rlm.llm.windows import decide_window
    from rlm.profiles import load_profile

    settings = _settings()
    hosts = []
    for d in load_profile(name).deployments:
        host = {"group": d.name, "model": d.model, "api_base": d.api_base, "up": True,
                "error": None, "running": None, "trained": None,
                "slots": d.options.get("max_parallel_requests")}
        try:
            await preflight(d.model, api_base=d.api_base)
            window = await decide_window(d.model, api_base=d.api_base, num_ctx=settings.num_ctx,
                                         model_num_ctx=settings.model_num_ctx)
            host.update(running=window.running, trained=window.trained)
            host["slots"] = host["slots"] or window.parallel or default_slots(d)
        except ModelError as exc:
            host.update(up=False, error=str(exc))
        hosts.append(host)
    return hosts


def render(facts: dict) -> str:
    ollama = facts["ollama"]
    lines = []
    if ollama["up"]:
        lines.append(f"Ollama: up at {ollama['host']}")
    else:
        lines.append(f"Ollama: not running at {ollama['host']} (start it with `ollama serve`, "
                     f"or set OLLAMA_HOST to where it runs)")
    if ollama["up"] and not facts["local_models"]:
        lines.append("  no models pulled: run `ollama pull llama3`")
    if facts["local_models"]:
        lines.append(f"  {'MODEL':<36} {'SIZE':>9} {'PARAMS':>7} {'RUNS AT':>8} "
                     f"{'TRAINED':>8}")
        for m in facts["local_models"]:
            trained = f"{m['context_length']:,}" if m["context_length"] else "?"
            running = f"{m['window']['running']:,}" if m["window"]["running"] else "?"
            think = "  can think" if "thinking" in m["capabilities"] else ""
            lines.append(f"  {m['model']:<36} {_size(m['size_bytes']):>9} "
                         f"{m['parameter_size'] or '?':>7} {running:>8} {trained:>8}{think}")
        sources = {m["window"]["source"] for m in facts["local_models"]}
        lines += [f"  runs at: {source}" for source in sorted(sources)]
        lines.append("  (rlm sends each model's window on every call; RLM_NUM_CTX, or "
                     "[num_ctx] in a profile, sets it)")
    providers = facts["hosted_providers"]
    if providers:
        lines.append("Hosted providers with a key set: " + ", ".join(
            p["provider"] for p in providers))
        lines += [f"  for example --model {p['example']}" for p in providers[:3]]
    else:
        lines.append("Hosted providers: no key set (for example GROQ_API_KEY, OPENAI_API_KEY, "
                     "GEMINI_API_KEY; in the environment or a .env file)")
    current = facts["rlm_model"]
    lines.append(f"RLM_MODEL: {current}" if current else
                 "RLM_MODEL: not set (rlm run picks a pulled Ollama model)")
    sandbox = facts["sandbox"]
    lines.append(f"Sandbox: files {sandbox['files']}, network {sandbox['network']}")
    for host in facts.get("deployments") or ():
        where = host["api_base"] or "OLLAMA_HOST"
        if not host["up"]:
            lines.append(f"Deployment {host['group']} at {where}: DOWN or unusable: "
                         f"{host['error']}")
            continue
        window = f"runs at {host['running']:,}" if host["running"] else "window unknown"
        trained = f" of {host['trained']:,}" if host["trained"] else ""
        lines.append(f"Deployment {host['group']} at {where}: up, {host['model']} there, "
                     f"{window}{trained} tokens, {host['slots']} slot(s)")
    return "\n".join(lines)


def _size(size: int) -> str:
    """Bytes as Ollama shows them: 4.7 GB."""
    if not size:
        return "?"
    value, unit = float(size), "B"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            break
        value /= 1000
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
