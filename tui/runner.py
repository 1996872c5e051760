"""What the run worker does, in plain thread code that never touches a widget.

``execute`` builds the engine from an injected factory, subscribes the bridge, runs
``completion`` and returns a ``RunEnded`` message for the app to post. ``RunHandle`` is the
one object both threads share: the UI cancels through it (even before the engine exists)
and waits on it (quitting waits until every sandbox is gone).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rlm import events as ev
from tui.bridge import EventBridge, RunEnded


@dataclass(frozen=True)
class RunRequest:
    """Everything one run needs from the screen. ``None`` means the engine's default."""

    question: str
    context: str | None = None  # a file or folder path
    model: str | None = None
    max_depth: int | None = None
    max_steps: int | None = None


class Engine(Protocol):
    """The part of ``rlm.RLM`` the app uses."""

    def completion(self, prompt: str, context: Any = None, *, trace: Any = None) -> Any: ...

    def cancel(self) -> None: ...

    def subscribe(self, subscriber: Callable[[ev.Event], None]) -> Callable[[], None]: ...


EngineFactory = Callable[[RunRequest], Engine]


def default_engine(request: RunRequest) -> Engine:
    """The real engine: models resolved and preflighted by ``rlm`` itself."""
    from rlm import RLM

    return RLM(model=request.model, max_depth=request.max_depth, max_steps=request.max_steps)


class RunHandle:
    """Shared by the UI thread and the worker: cancel at any time, wait for the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self.cancel_requested = False
        self.done = threading.Event()

    def attach(self, engine: Engine) -> None:
        with self._lock:
            self._engine = engine
            cancel = self.cancel_requested
        if cancel:
            engine.cancel()

    def cancel(self) -> None:
        """Ask the engine to stop: every agent ends and every sandbox is killed."""
        with self._lock:
            self.cancel_requested = True
            engine = self._engine
        if engine is not None:
            engine.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


class TraceNamer:
    """Renames the trace to ``tui-<time>-<run id>.jsonl`` once the run id is known."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted) and event.run_id and self.path.exists():
            stamp = self.path.stem.split("-", 1)[1].rsplit("-", 1)[0]
            target = self.path.with_name(f"tui-{stamp}-{event.run_id}.jsonl")
            try:
                os.replace(self.path, target)  # the writer keeps its open file
            except OSError:
                return
            self.path = target


def new_trace_path(folder: Path, now: float | None = None) -> Path:
    """``folder/tui-20250101-120000-<random>.jsonl`` (the random part becomes the run id)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    return folder / f"tui-{stamp}-{secrets.token_hex(3)}.jsonl"


def execute(request: RunRequest, factory: EngineFactory, bridge: EventBridge,
            handle: RunHandle, trace_path: Path | None) -> RunEnded:
    """Run one request to the end in the calling (worker) thread; never raises."""
    namer = TraceNamer(trace_path) if trace_path else None
    unsubscribe: list[Callable[[], None]] = []
    try:
        engine = factory(request)
        if namer:
            unsubscribe.append(engine.subscribe(namer))
        unsubscribe.append(engine.subscribe(bridge))
        handle.attach(engine)
        context = Path(request.context).expanduser() if request.context else None
        result = engine.completion(request.question, context, trace=trace_path)
        return RunEnded(bridge.run_no, result=result, trace_path=_trace(namer))
    except Exception as exc:  # shown in the app: an RLMError's message, else the type
        return RunEnded(bridge.run_no, error=_describe(exc), error_kind=type(exc).__name__,
                        trace_path=_trace(namer))
    finally:
        for stop in unsubscribe:
            stop()
        handle.done.set()


def _trace(namer: TraceNamer | None) -> str | None:
    return str(namer.path) if namer and namer.path.exists() else None


def _describe(exc: Exception) -> str:
    from rlm.errors import RLMError

    if isinstance(exc, RLMError):
        return str(exc)
    return f"Unexpected {type(exc).__name__}: {exc}. The run stopped; the trace (if any) " \
           f"keeps what happened. Please report this."
