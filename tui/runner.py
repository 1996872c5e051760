"""What the engine worker does, in plain thread code that never touches a widget.

A ``Conversation`` is the app's engine (built from an injected factory) and its session
(``rlm.core.session``), kept across questions: each follow-up runs on the same sandbox with
the earlier turns recapped, and one trace holds every turn. ``ask`` runs one turn and
returns a ``RunEnded`` message for the app to post; ``close`` stops the sandbox (ctrl+n,
quit). ``RunHandle`` is what both threads share for one turn: the UI cancels it or stops one
agent through it (a cancel even before the engine exists) and waits on it (quitting waits
until every sandbox is gone).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rlm import events as ev
from tui.bridge import EventBridge, RunEnded
from tui.settings import OWN, given


@dataclass(frozen=True)
class RunRequest:
    """Everything one question needs from the screen. ``None`` means the engine's default."""

    question: str
    context: str | None = None  # a file or folder path
    model: str | None = None
    max_depth: int | None = None
    max_steps: int | None = None
    profile: str | None = None  # a profile name or .toml file, as `rlm run --profile`
    flags: Mapping[str, Any] = field(default_factory=dict)  # sub_model, api_base, ...

    def settings(self) -> dict[str, Any]:
        """Every setting the request gives, by name (``None``: not given)."""
        return given(self.flags, self.model, self.max_depth, self.max_steps)


class Session(Protocol):
    """The part of ``rlm.core.session.Session`` the app uses."""

    def ask(self, question: str, context: Any = None, *, keep: str = "replace") -> Any: ...

    def cancel(self) -> None: ...

    def stop_agent(self, agent_id: str) -> None: ...

    def subscribe(self, subscriber: Callable[[ev.Event], None]) -> Callable[[], None]: ...

    def close(self) -> None: ...


class Engine(Protocol):
    """The part of ``rlm.RLM`` the app uses."""

    settings: Any  # rlm.config.Settings: a follow-up takes the model and limits picked since

    def session(self, context: Any = None, *, trace: Any = None) -> Session: ...


EngineFactory = Callable[[RunRequest], Engine]


def default_engine(request: RunRequest) -> Engine:
    """The real engine, with the settings ``rlm run`` would resolve from the same flags and
    profile; the models are resolved and preflighted by ``rlm`` itself."""
    from rlm import RLM
    from tui.settings import resolve

    settings, profile = resolve(request.profile, request.settings())
    client = None
    if profile is not None and profile.deployments:  # several hosts for one model
        from rlm.llm.factory import make_model

        client = make_model(settings, deployments=profile.deployments,
                            router_options=profile.router)
    return RLM(settings=settings, client=client, tools=profile.tools if profile else None)


class RunHandle:
    """One turn, shared by the UI thread and the worker: cancel or steer it at any time,
    wait for its end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Session | None = None
        self.cancel_requested = False
        self.done = threading.Event()

    def attach(self, session: Session) -> None:
        with self._lock:
            self._session = session
            cancel = self.cancel_requested
        if cancel:
            session.cancel()

    def cancel(self) -> None:
        """Stop the turn: every agent ends and every sandbox is killed (the session's own
        sandbox is restarted by the engine for the next question)."""
        with self._lock:
            self.cancel_requested = True
            session = None if self.done.is_set() else self._session
        if session is not None:
            session.cancel()

    def stop_agent(self, agent_id: str) -> bool:
        """Stop one agent and everything under it; False when no turn is running."""
        with self._lock:
            session = None if self.done.is_set() else self._session
        if session is None:
            return False
        session.stop_agent(agent_id)
        return True

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


class Conversation:
    """One conversation: an engine session kept across questions (worker thread only).

    Args:
        factory: builds the engine for the first question (tests: a scripted model).
        trace_path: where the conversation's one trace goes (``None``: no trace).
    """

    def __init__(self, factory: EngineFactory, trace_path: Path | None) -> None:
        self.factory = factory
        self.namer = TraceNamer(trace_path) if trace_path else None
        self.turns = 0  # questions run to an end on this session's sandbox
        self._lock = threading.Lock()  # one turn, or the close, at a time
        self._engine: Engine | None = None
        self._session: Session | None = None
        self._last: RunRequest | None = None  # the question the engine's settings are for
        self._context: str | None = None  # the context path the sandbox has as `context`
        # The bridge of the latest question: it stays subscribed after its turn ends, as a
        # stopped child's last events may come after the turn's RunFinished.
        self._bridge: EventBridge | None = None

    @property
    def trace_path(self) -> str | None:
        return str(self.namer.path) if self.namer and self.namer.path.exists() else None

    def ask(self, request: RunRequest, bridge: EventBridge, handle: RunHandle) -> RunEnded:
        """Run one question to its end in the calling (worker) thread; never raises."""
        with self._lock:
            try:
                self._bridge = bridge
                session = self._open(request)
                handle.attach(session)
                result = session.ask(request.question, self._new_context(request))
                self.turns += 1
                return RunEnded(bridge.run_no, result=result, trace_path=self.trace_path)
            except Exception as exc:  # shown in the app: an RLMError's message, else the type
                if self.turns == 0:  # nothing ran: the next question starts afresh
                    self._discard()
                return RunEnded(bridge.run_no, error=_describe(exc),
                                error_kind=type(exc).__name__, trace_path=self.trace_path)
            finally:
                handle.done.set()

    def close(self, timeout: float = -1) -> None:
        """Stop the session and its sandbox (after a running turn ends; wait at most
        ``timeout`` seconds for that, -1: as long as it takes)."""
        if self._lock.acquire(timeout=timeout):
            try:
                self._discard()
            finally:
                self._lock.release()

    # --- internals -----------------------------------------------------------------------
    def _open(self, request: RunRequest) -> Session:
        if self._engine is not None and self._session is not None:
            self._follow(request)
            return self._session
        self._engine = self.factory(request)
        context = Path(request.context).expanduser() if request.context else None
        self._session = self._engine.session(context, trace=self.namer.path if self.namer
                                             else None)
        if self.namer:
            self._session.subscribe(self.namer)
        self._session.subscribe(self._deliver)
        self._last = request
        return self._session

    def _deliver(self, event: ev.Event) -> None:
        """The session's subscriber (engine thread): to the latest question's bridge."""
        bridge = self._bridge
        if bridge is not None:
            bridge(event)

    def _follow(self, request: RunRequest) -> None:
        """A follow-up takes the model and limits picked since the last question (as
        ``rlm chat``'s /model does); one set back to its default gets the resolved one."""
        from tui.settings import resolve

        last, settings = self._last, getattr(self._engine, "settings", None)
        changed = [name for name in OWN if getattr(request, name) != getattr(last, name)]
        if changed and settings is not None:
            fresh, _ = resolve(request.profile, request.settings())
            for name in changed:
                setattr(settings, name, getattr(fresh, name))
        self._last = request

    def _new_context(self, request: RunRequest) -> Path | None:
        """A context picked since the last question (it becomes ``context``; the old one
        stays in the sandbox as ``context_<n>``), else ``None``: keep the one there is."""
        if self.turns == 0:  # the session was opened with it
            self._context = request.context
            return None
        if not request.context or request.context == self._context:
            return None
        self._context = request.context
        return Path(request.context).expanduser()

    def _discard(self) -> None:
        session, self._session, self._engine = self._session, None, None
        self._context = None
        if session is not None:
            session.close()


class TraceNamer:
    """Renames the trace to ``tui-<time>-<run id>.jsonl`` once the first run id is known
    (a conversation's later turns write on in the same file)."""

    def __init__(self, path: Path):
        self.path = path
        self.named = False

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted) and event.run_id and not self.named \
                and self.path.exists():
            self.named = True
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


def _describe(exc: Exception) -> str:
    from rlm.errors import RLMError

    if isinstance(exc, RLMError):
        return str(exc)
    return f"Unexpected {type(exc).__name__}: {exc}. The run stopped; the trace (if any) " \
           f"keeps what happened. Please report this."
