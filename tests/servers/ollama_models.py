"""What the scripted Ollama serves: pulled models, loaded models, and version-dated behaviour.

Citations are to ``ollama/ollama`` (tags as ``git tag --contains`` gives the first release
with the change; line numbers at v0.33.0-rc2, the newest commit in the mirror read).
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field

from .tokenize import CHATML, LLAMA3, ChatTemplate

CURRENT_VERSION = "0.32.15"  # the newest stable tag in the mirror read

# Releases where a behaviour copied here changed.
CTX_4096 = (0, 6, 7)        # envconfig: default context 2048 -> 4096 (44b466eeb)
THINK_FIELD = (0, 9, 0)      # api: the ``think`` field appears (5f57b0ef4)
PARALLEL_1 = (0, 10, 0)      # envconfig: OLLAMA_NUM_PARALLEL default auto(4) -> 1 (20c3266e9)
PS_CONTEXT = (0, 10, 0)      # api: ProcessModelResponse.context_length (34088dbcf)
THINK_ON = (0, 12, 4)        # routes: think absent = on for thinking models (90d429f5a)
THINK_QUOTED = (0, 12, 5)    # routes: '"x" does not support thinking' (d681cd7c2)
SHIFT_HEADROOM = (0, 30, 11)  # llama_server.go: contextShiftPromptLimit (c191a145b)

NUM_KEEP = 4                 # api/types.go DefaultOptions: NumKeep 4
KEEP_ALIVE = 300.0           # envconfig KeepAlive(): 5 minutes
MAX_QUEUE = 512              # envconfig: OLLAMA_MAX_QUEUE
BUSY = "server busy, please try again.  maximum pending requests exceeded"  # sched.go:88


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


@dataclass
class FakeModel:
    """A pulled model as ``/api/tags`` and ``/api/show`` describe it.

    ``context_length`` is the trained window (``model_info["<family>.context_length"]``);
    a request runs at most at that (``llm/server.go`` ``NewLlamaServer`` caps num_ctx).
    ``thinking``/``tools``/``vision`` add the capability to ``/api/show``.
    """

    name: str
    size: int = 4_661_224_676
    family: str = "llama"
    parameter_size: str = "8.0B"
    context_length: int = 8192
    quantization: str = "Q4_0"
    thinking: bool = False
    tools: bool = False
    vision: bool = False
    template: ChatTemplate | None = None  # None: ChatML for qwen families, else Llama 3
    layers: int = 32      # with kv_heads, the KV cache: 2*2*32*8*128 = 128 KiB per token
    kv_heads: int = 8

    def shape(self) -> dict:
        """The attention shape ``model_info`` gives (``<arch>.block_count`` ...), from which
        the KV cache's size per token follows; Llama 3 8B's by default."""
        arch = self.family
        return {f"{arch}.block_count": self.layers, f"{arch}.embedding_length": 4096,
                f"{arch}.attention.head_count": 32,
                f"{arch}.attention.head_count_kv": self.kv_heads}

    def chat_template(self) -> ChatTemplate:
        if self.template is not None:
            return self.template
        return CHATML if self.family.startswith("qwen") else LLAMA3

    def capabilities(self) -> list[str]:
        """``types/model/capability.go`` names, as ``Model.Capabilities`` lists them."""
        found = ["completion"]
        found += ["tools"] if self.tools else []
        found += ["thinking"] if self.thinking else []
        found += ["vision"] if self.vision else []
        return found

    def tag_entry(self) -> dict:
        return {"name": self.name, "model": self.name, "size": self.size,
                "modified_at": "2025-01-01T00:00:00Z", "digest": self.digest(),
                "details": self.details()}

    def digest(self) -> str:
        return f"{abs(hash(self.name)):064x}"[:64]

    def details(self) -> dict:
        return {"parent_model": "", "format": "gguf", "family": self.family,
                "families": [self.family], "parameter_size": self.parameter_size,
                "quantization_level": self.quantization}

    def show(self) -> dict:
        return {"license": "", "modelfile": f"FROM {self.name}\n", "parameters": "",
                "template": self.chat_template().text, "details": self.details(),
                "model_info": {"general.architecture": self.family,
                               "general.parameter_count": 8_030_261_248,
                               f"{self.family}.context_length": self.context_length,
                               **self.shape()},
                "capabilities": self.capabilities(), "modified_at": "2025-01-01T00:00:00Z"}


def full_name(name: str) -> str:
    """Ollama's own normalisation: a name without a tag means ``:latest``."""
    return name if ":" in name else f"{name}:latest"


def registry_name(name: str) -> str:
    """The fully qualified name older servers put in capability errors."""
    path = full_name(name)
    return f"registry.ollama.ai/{path if '/' in path else 'library/' + path}"


@dataclass
class Load:
    """One model load: a first load, or a reload because the running window changed."""

    model: str
    num_ctx: int
    previous_num_ctx: int | None  # None for a first load (or after an unload)
    at: float


@dataclass
class Loaded:
    """A model in memory, as ``/api/ps`` lists it."""

    model: FakeModel
    num_ctx: int
    keep_alive: float  # seconds; negative: forever
    expires_at: _dt.datetime = field(default_factory=lambda: _dt.datetime.now(_dt.UTC))

    def ps_entry(self, with_context: bool) -> dict:
        name = full_name(self.model.name)  # DisplayShortest: "llama3:latest"
        entry = {"name": name, "model": name, "size": self.model.size,
                 "digest": self.model.digest(), "details": self.model.details(),
                 "expires_at": self.expires_at.isoformat(), "size_vram": self.model.size}
        return entry | ({"context_length": self.num_ctx} if with_context else {})


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def keep_alive_seconds(value) -> float:
    """``keep_alive`` as ``api.Duration.UnmarshalJSON`` reads it: a number of seconds or a
    Go duration string; negative means forever; absent means 5 minutes."""
    if value is None:
        return KEEP_ALIVE
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts:
        raise ValueError(f"time: invalid duration {text!r}")
    return sum(float(n) * _UNITS[unit] for n, unit in parts)


def expiry(keep_alive: float) -> _dt.datetime:
    now = _dt.datetime.now(_dt.UTC)
    if keep_alive < 0:
        return now.replace(year=now.year + 290)  # time.Duration(math.MaxInt64)
    return now + _dt.timedelta(seconds=keep_alive)
