"""Ollama discovery: is the server up, which models are pulled, how long their context is.

Everything goes through the ``ollama`` client (``/api/tags``, ``/api/show``). The blocking
functions (``server_up``, ``list_models``) are for the CLI, the TUI's workers and
``resolve_model``; the ``a``-prefixed ones are for code already inside an event loop.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rlm.errors import ModelNotFound, ServerUnreachable
from rlm.llm.providers import DEFAULT_OLLAMA_HOST, model_name, normalize_host, ollama_tagged
from rlm.llm.providers import ollama_host as _host_from_env

if TYPE_CHECKING:
    import ollama

TIMEOUT = 5.0  # seconds for one discovery request: a local server answers in milliseconds


@dataclass(frozen=True)
class LocalModel:
    """A pulled model. ``context_length`` (the trained window), ``capabilities`` and
    ``kv_bytes_per_token`` come from ``/api/show`` (empty when not described)."""

    name: str
    size: int = 0
    family: str = ""
    parameter_size: str = ""
    context_length: int | None = None
    capabilities: tuple[str, ...] = ()
    kv_bytes_per_token: int | None = None

    @property
    def model(self) -> str:
        """The litellm model string for it (``ollama_chat/`` applies the model's template)."""
        return f"ollama_chat/{self.name}"


def ollama_host(env: Mapping[str, str] | None = None) -> str:
    """``OLLAMA_HOST`` as a URL (scheme and port added); ``http://127.0.0.1:11434`` if unset."""
    return _host_from_env(os.environ if env is None else env)


def _host(host: str | None) -> str:
    return normalize_host(host) if host else ollama_host()


def not_running(host: str) -> ServerUnreachable:
    return ServerUnreachable(f"Ollama is not running at {host}: run `ollama serve` (or set "
                             f"OLLAMA_HOST to where it runs), then try again.")


# --- blocking -------------------------------------------------------------------------
def server_up(host: str | None = None, timeout: float = 2.0) -> bool:
    """True when an Ollama server answers at ``host`` (default: ``OLLAMA_HOST``)."""
    import ollama

    try:
        ollama.Client(host=_host(host), timeout=timeout).list()
        return True
    except Exception:  # noqa: BLE001  (refused, timeout, not Ollama: all "not usable")
        return False


def list_models(host: str | None = None, timeout: float = TIMEOUT, *,
                describe: bool = True) -> list[LocalModel]:
    """The pulled models, with their context length when ``describe`` (one ``/api/show`` each).

    Raises:
        ServerUnreachable: no Ollama answers at ``host``.
    """
    import ollama

    url = _host(host)
    client = ollama.Client(host=url, timeout=timeout)
    try:
        tags = client.list().models
    except Exception as exc:
        raise not_running(url) from exc
    return [_local_model(tag, _show_or_none(client.show, tag.model)
                         if describe and tag.model else None)
            for tag in tags]


def _show_or_none(show, name: str):
    try:
        return show(name)
    except Exception:  # noqa: BLE001  (a model that cannot be described is still listed)
        return None


# --- async ----------------------------------------------------------------------------
async def aserver_up(host: str | None = None, timeout: float = 2.0) -> bool:
    """``server_up`` for async code."""
    import ollama

    try:
        await ollama.AsyncClient(host=_host(host), timeout=timeout).list()
        return True
    except Exception:  # noqa: BLE001  (as in server_up)
        return False


async def alist_models(host: str | None = None, timeout: float = TIMEOUT, *,
                       with_details: bool = True) -> list[LocalModel]:
    """``list_models`` for async code (describes the models concurrently)."""
    import ollama

    url = _host(host)
    client = ollama.AsyncClient(host=url, timeout=timeout)
    try:
        tags = (await client.list()).models
    except Exception as exc:
        raise not_running(url) from exc
    if not with_details:
        return [_local_model(t, None) for t in tags]
    shows = await asyncio.gather(*(_ashow(client, t.model) for t in tags),
                                 return_exceptions=True)
    return [_local_model(t, None if isinstance(s, BaseException) else s)
            for t, s in zip(tags, shows, strict=True)]


async def _ashow(client: ollama.AsyncClient, name: str | None) -> ollama.ShowResponse | None:
    return await client.show(name) if name else None


@dataclass(frozen=True)
class ModelFacts:
    """What ``/api/show`` says about a pulled model that decides how to run it.

    ``kv_bytes_per_token`` is the size of its KV cache per token of window at f16 (2 bytes
    per number, keys and values, every layer, every KV head), ``None`` when ``model_info``
    does not give the shape.
    """

    context_length: int | None
    capabilities: tuple[str, ...] = ()
    kv_bytes_per_token: int | None = None

    @property
    def thinking(self) -> bool:
        return "thinking" in self.capabilities


async def describe(model: str, api_base: str | None = None) -> ModelFacts:
    """``/api/show`` of ``model`` (``ollama/x`` or a bare name), read into ``ModelFacts``.

    Raises:
        ServerUnreachable: no Ollama answers at ``api_base`` (default ``OLLAMA_HOST``).
        ModelNotFound: the model is not pulled.
    """
    import ollama

    url, name = _host(api_base), model_name(model)
    try:
        shown = await ollama.AsyncClient(host=url, timeout=TIMEOUT).show(name)
    except ollama.ResponseError as exc:
        if exc.status_code == 404:
            raise not_pulled(name, url) from exc
        raise
    except Exception as exc:
        raise not_running(url) from exc
    info = shown.modelinfo or {}
    return ModelFacts(_context_length(info), tuple(shown.capabilities or ()),
                      _kv_bytes_per_token(info))


async def model_size(model: str, api_base: str | None = None) -> int:
    """The pulled model's size in bytes (``/api/tags``), 0 when it is not listed."""
    name = model_name(model)
    wanted = (name, ollama_tagged(name))
    try:
        pulled = await alist_models(api_base, with_details=False)
    except ServerUnreachable:
        return 0
    return next((m.size for m in pulled if m.name in wanted), 0)


async def context_length(model: str, api_base: str | None = None) -> int | None:
    """The context length Ollama reports for ``model`` (the trained window).

    Raises:
        ServerUnreachable, ModelNotFound: as ``describe``.
    """
    return (await describe(model, api_base)).context_length


def not_pulled(name: str, host: str) -> ModelNotFound:
    return ModelNotFound(f"Ollama at {host} has no model {name!r}: run `ollama pull {name}` "
                         f"(or pick a pulled one: `ollama list`).", model=name)


# --- reading the answers ----------------------------------------------------------------
def _local_model(tag, shown) -> LocalModel:
    details = tag.details
    info = (getattr(shown, "modelinfo", None) or {}) if shown is not None else {}
    return LocalModel(name=tag.model or "", size=int(tag.size or 0),
                      family=(details.family if details else "") or "",
                      parameter_size=(details.parameter_size if details else "") or "",
                      context_length=_context_length(info),
                      capabilities=tuple(getattr(shown, "capabilities", None) or ()),
                      kv_bytes_per_token=_kv_bytes_per_token(info))


def _kv_bytes_per_token(info: Mapping) -> int | None:
    """Keys and values of every layer and KV head, f16: ``2 * 2 * layers * kv_heads *
    head_dim`` bytes (llama.cpp's KV cache at Ollama's default ``OLLAMA_KV_CACHE_TYPE``)."""
    arch = info.get("general.architecture")
    if not arch:
        return None
    layers = info.get(f"{arch}.block_count")
    heads = info.get(f"{arch}.attention.head_count")
    kv_heads = info.get(f"{arch}.attention.head_count_kv") or heads
    head_dim = info.get(f"{arch}.attention.key_length")
    if not head_dim and heads and info.get(f"{arch}.embedding_length"):
        head_dim = int(info[f"{arch}.embedding_length"]) // int(heads)
    if not (layers and kv_heads and head_dim):
        return None
    return 2 * 2 * int(layers) * int(kv_heads) * int(head_dim)


def _context_length(info: Mapping) -> int | None:
    """``<architecture>.context_length`` from ``/api/show``'s ``model_info``."""
    arch = info.get("general.architecture")
    value = info.get(f"{arch}.context_length") if arch else None
    if value is None:
        value = next((v for k, v in info.items() if k.endswith(".context_length")), None)
    return int(value) if value else None


# --- choosing a default ---------------------------------------------------------------
_EMBEDDING = re.compile(r"embed|bge|minilm|nomic-bert|rerank", re.IGNORECASE)
_CODER = re.compile(r"coder|codestral|devstral", re.IGNORECASE)
_INSTRUCT = re.compile(r"instruct|chat|llama3|llama-3|qwen|mistral|gemma|phi|deepseek|"
                       r"granite|command-r|hermes|olmo|smollm", re.IGNORECASE)
_BASE = re.compile(r"[:-](base|text)\b", re.IGNORECASE)


def memory_bytes() -> int:
    """This machine's RAM in bytes (0 when it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def pick_default(models: Iterable[LocalModel], max_bytes: int | None = None) -> str | None:
    """The pulled model to use when none is set, or ``None`` when there is none to use.

    The rule, in order:
      1. embedding and reranking models are never picked;
      2. a coder-tuned model (``qwen2.5-coder``, ``deepseek-coder``...) beats a known
         instruct/chat family (``llama3.x``, ``qwen``, ``mistral``, ``gemma``, ``phi``...)
         or a name with ``instruct``/``chat``, which beats anything else; ``:base`` /
         ``:text`` tags come last;
      3. within the best class, the largest model that fits ``max_bytes`` (default: 60% of
         this machine's RAM, as the weights must sit in memory), else the smallest one;
      4. ties go to the name, alphabetically.

    Returns:
        The Ollama name (``qwen2.5-coder:7b``), without a provider prefix.
    """
    usable = [m for m in models if m.name and not _EMBEDDING.search(m.name)]
    if not usable:
        return None
    budget = max_bytes if max_bytes is not None else int(memory_bytes() * 0.6) or 1 << 62
    best = min(_rank(m) for m in usable)
    group = [m for m in usable if _rank(m) == best]
    fitting = [m for m in group if m.size <= budget]
    if fitting:
        return max(fitting, key=lambda m: (m.size, _reverse(m.name))).name
    return min(group, key=lambda m: (m.size, m.name)).name


def _rank(model: LocalModel) -> int:
    if _BASE.search(model.name):
        return 3
    if _CODER.search(model.name):
        return 0
    return 1 if _INSTRUCT.search(model.name) else 2


def _reverse(name: str) -> tuple[int, ...]:
    """A key that sorts names backwards, so ``max`` breaks size ties alphabetically."""
    return tuple(-ord(c) for c in name)


__all__ = [
    "DEFAULT_OLLAMA_HOST",
    "LocalModel",
    "ModelFacts",
    "alist_models",
    "aserver_up",
    "context_length",
    "describe",
    "list_models",
    "memory_bytes",
    "not_pulled",
    "not_running",
    "ollama_host",
    "pick_default",
    "server_up",
]
