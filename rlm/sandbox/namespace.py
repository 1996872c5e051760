"""The globals user code sees: ``context``, the query functions, FINAL, FINAL_VAR, SHOW_VARS.

Worker side, stdlib only. The query functions send a ``call`` to the host and block until
its reply; a handler error on the host becomes ``RuntimeError`` here.
"""

from __future__ import annotations

import json
import os
import sys
from types import ModuleType

from .protocol import Mailbox

TYPE_CHECKING = False  # typing costs the worker's cold start ~5 ms; annotations only
if TYPE_CHECKING:
    from typing import Any

INJECTED = ("llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched",
            "FINAL", "FINAL_VAR", "SHOW_VARS")
PREVIEW = 80


class Namespace:
    """One globals dict per worker (the real ``__main__``, so pickling user classes works)."""

    def __init__(self, mailbox: Mailbox, folder: str):
        self.globals: dict[str, Any] = sys.modules["__main__"].__dict__
        self.final: str | None = None
        self.final_error: str | None = None
        self._mailbox = mailbox
        self._folder = folder
        self._contexts = 0
        self.tools: set[str] = set()
        for name in INJECTED:
            self.globals[name] = getattr(self, name)

    def reset_final(self) -> None:
        self.final = self.final_error = None

    def lookup(self, name: str) -> tuple[bool, str]:
        """``(True, str(value))``, or ``(False, what to tell the model)``."""
        name = name.strip()
        if name in self.globals and not name.startswith("__"):
            return True, str(self.globals[name])
        names = ", ".join(self.user_names()) or "none yet"
        return False, (f"Variable {name!r} is not defined; defined variables: {names}. "
                       f"Assign it in code first, then use FINAL_VAR({name!r}).")

    def user_names(self) -> list[str]:
        return [name for name, value in self.globals.items()
                if not name.startswith("_") and name not in INJECTED and name not in self.tools
                and not isinstance(value, ModuleType)]

    # --- what user code calls -------------------------------------------------------------

    def FINAL(self, value: Any) -> None:
        """Answer with ``value``; the block still runs to its end and the last call wins."""
        self.final, self.final_error = str(value), None

    def FINAL_VAR(self, name: Any) -> None:
        """Answer with the value of the variable called ``name`` (a value is taken as is)."""
        if not isinstance(name, str):
            return self.FINAL(name)
        found, text = self.lookup(name)
        self.final, self.final_error = (text, None) if found else (None, text)

    def SHOW_VARS(self) -> None:
        """Print the variables defined so far: name, type, size and a short preview."""
        rows = [f"{name}: {_describe(self.globals[name])}" for name in self.user_names()]
        print("\n".join(rows) if rows else "(no variables defined yet)")

    def llm_query(self, prompt: Any, model: str | None = None) -> str:
        """One plain completion of ``prompt`` by the sub-model (or ``model``)."""
        return self._call("llm_query", {"prompt": str(prompt), "model": model})

    def llm_query_batched(self, prompts: Any, model: str | None = None) -> list[str]:
        """Many completions at once; answers in the order of ``prompts``."""
        return self._call("llm_query_batched",
                          {"prompts": [str(p) for p in _as_list(prompts, "prompts")],
                           "model": model})

    def rlm_query(self, task: Any, context: Any = None, model: str | None = None) -> str:
        """A child agent works on ``task`` with its own ``context``; returns its answer."""
        return self._call("rlm_query", {"task": str(task), "context": self._store(context),
                                        "model": model})

    def rlm_query_batched(self, tasks: Any, contexts: Any = None,
                          model: str | None = None) -> list[str]:
        """Several child agents at once; answers in the order of ``tasks``."""
        tasks = [str(t) for t in _as_list(tasks, "tasks")]
        wire = None
        if contexts is not None:
            contexts = _as_list(contexts, "contexts")
            if len(contexts) != len(tasks):
                raise ValueError(f"rlm_query_batched got {len(tasks)} tasks but "
                                 f"{len(contexts)} contexts; pass one context per task.")
            wire = [self._store(c) for c in contexts]
        return self._call("rlm_query_batched", {"tasks": tasks, "contexts": wire, "model": model})

    def add_tool(self, name: str) -> None:
        """Define ``name(...)``: a host function the code calls with JSON arguments."""
        def tool(*args: Any, **kwargs: Any) -> Any:
            return self._call("tool", {"name": name, "args": list(args), "kwargs": kwargs})

        tool.__name__ = name
        self.tools.add(name)
        self.globals[name] = tool

    # --- plumbing -------------------------------------------------------------------------

    def _call(self, name: str, payload: dict[str, Any]) -> Any:
        if payload.get("model") is not None and not isinstance(payload["model"], str):
            raise TypeError("model must be a model name (str) or None")
        reply = self._mailbox.call(name, payload)
        if reply.get("error") is not None:
            raise RuntimeError(reply["error"])
        return reply.get("result")

    def _store(self, value: Any) -> dict[str, str] | None:
        """Write a child's context into this worker's folder; the host gets kind and path."""
        if value is None:
            return None
        if isinstance(value, str):
            kind, suffix = "text", "txt"
        elif isinstance(value, (bytes, bytearray, memoryview)):
            kind, suffix = "bytes", "bin"
        elif isinstance(value, (list, dict, tuple)):
            kind, suffix = "json", "json"
        else:
            raise TypeError(f"a context must be str, bytes, list, dict or tuple, not "
                            f"{type(value).__name__}; convert it first, e.g. str(value).")
        self._contexts += 1
        folder = os.path.join(self._folder, ".rlm-contexts")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"context-{self._contexts}.{suffix}")
        _write(path, kind, value)
        return {"kind": kind, "path": path}


def _write(path: str, kind: str, value: Any) -> None:
    if kind == "bytes":
        with open(path, "wb") as out:
            out.write(value)
        return
    with open(path, "w", encoding="utf-8", errors="surrogatepass", newline="") as out:
        if kind == "text":
            out.write(value)
        else:
            json.dump(value, out, ensure_ascii=False, default=str)


def _as_list(value: Any, what: str) -> list[Any]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{what} must be a list, not {type(value).__name__}")
    return list(value)


def _short_repr(value: Any) -> str:
    # reprlib never builds the whole repr of a 100 MB string or a million-item list.
    import reprlib

    short = reprlib.Repr()
    short.maxstring = short.maxother = short.maxlong = PREVIEW
    return short.repr(value)


def _describe(value: Any) -> str:
    kind = type(value).__name__
    if callable(value):
        return kind
    size = ""
    if isinstance(value, str):
        size = f", {len(value):,} chars"
    elif isinstance(value, (bytes, bytearray)):
        size = f", {len(value):,} bytes"
    elif hasattr(value, "__len__"):
        try:
            size = f", {len(value):,} items"
        except Exception:  # noqa: BLE001, S110 - a broken __len__ only loses the size
            pass
    try:
        text = _short_repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not break SHOW_VARS
        text = f"<repr failed: {exc}>"
    if len(text) > PREVIEW:
        text = text[:PREVIEW] + "..."
    return f"{kind}{size}: {text}"
