"""``Sandbox``: one agent's worker process, driven from asyncio.

``run(code)`` sends one action and waits for its outcome under the action clock, which
counts the sandbox's own running time and pauses while the worker waits on the handler.
When the clock runs out, or the worker dies, the worker's whole group is killed, the
handler calls it was waiting on are cancelled (late replies are dropped), and a fresh
worker reloads ``context`` from the same source before ``run`` returns.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Self, overload

from rlm.context import ContextSource
from rlm.errors import SandboxError

from .api import ActionResult, Handler, SandboxConfig
from .clock import ActionClock
from .confine import check_paths, rules
from .pool import SandboxPool
from .process import WorkerProcess
from .protocol import CALLS, encode

GRACE = 0.5  # seconds a stopped action gets to send back what it printed
# A sandbox without a pool has a private one: for a single worker, spawning it is quicker
# than starting a template and then forking.
PRIVATE_POOL_FORKS = False


@dataclass
class _Outcome:
    reply: dict[str, Any] | None
    seconds: float
    timed_out: bool = False
    restarted: bool = False
    crash: str | None = None


class Sandbox:
    """A worker subprocess that runs an agent's code against its ``context``.

    Attributes:
        network: which network protection ran: "namespace", "guard" or "allowed".
        files: which file confinement ran: "landlock (ABI N)", "off (confine_files=False)"
            or "none: <why>" (``confine.file_confinement`` says it without a worker).
    """

    def __init__(self, source: ContextSource | None, *, config: SandboxConfig,
                 handler: Handler, pool: SandboxPool, owns_pool: bool, label: str = ""):
        self.source = source
        self.config = config
        self.label = label
        self.network = ""
        self.files = ""
        self._handler = handler
        self._pool = pool
        self._owns_pool = owns_pool
        self._worker: WorkerProcess | None = None
        self._booting: asyncio.Task[None] | None = None  # the first boot, until it is awaited
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def start(cls, source: ContextSource | None, *, config: SandboxConfig,
                    handler: Handler, pool: SandboxPool | None = None,
                    label: str = "") -> Sandbox:
        """Start a worker (a warm one from ``pool`` when there is one) and load ``context``.

        Args:
            source: the context to load (None gives ``context = None``).
            config: limits for this sandbox.
            handler: serves the worker's llm_query/rlm_query calls.
            pool: shared warm workers and teardown; without one the sandbox owns a private
                pool and ``close`` waits until every process is gone.
            label: a name for the worker's temp folder (e.g. the agent id).

        Raises:
            SandboxError: the worker could not start or could not load the context.
            ConfigError: a path in ``config.read_paths``/``write_paths`` does not exist.
        """
        sandbox = cls._new(source, config, handler, pool, label)
        try:
            await sandbox._boot()  # in this task: a spare the pool starts comes after
        except BaseException:
            await asyncio.shield(sandbox.close())
            raise
        return sandbox

    @classmethod
    def begin(cls, source: ContextSource | None, *, config: SandboxConfig,
              handler: Handler, pool: SandboxPool | None = None, label: str = "") -> Sandbox:
        """``start``, returning at once while the worker starts and loads in the background
        (an agent asks the model meanwhile). The first ``run``, ``get_variable`` or
        ``set_variable`` waits for it, and raises what ``start`` would have raised.

        Raises:
            ConfigError: a path in ``config.read_paths``/``write_paths`` does not exist
                (checked now, not in the background).
        """
        check_paths(config)
        sandbox = cls._new(source, config, handler, pool, label)
        sandbox._booting = asyncio.get_running_loop().create_task(sandbox._boot())
        sandbox._booting.add_done_callback(_retrieve)
        return sandbox

    @classmethod
    def _new(cls, source: ContextSource | None, config: SandboxConfig, handler: Handler,
             pool: SandboxPool | None, label: str) -> Sandbox:
        return cls(source, config=config, handler=handler, label=label,
                   pool=pool or SandboxPool(config, warm=0, fork_server=PRIVATE_POOL_FORKS),
                   owns_pool=pool is None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def pid(self) -> int:
        """The current worker's pid (0 between a cancelled action and the next one)."""
        return self._worker.pid if self._worker else 0

    @property
    def log(self) -> str:
        """The tail of the worker's own stdout/stderr (crash messages, faulthandler)."""
        return self._worker.log.text() if self._worker else ""

    async def run(self, code: str) -> ActionResult:
        """Run one action. Variables persist across calls until a restart.

        Raises:
            SandboxError: the sandbox is closed, or no fresh worker could be started.
        """
        restarted, crash, outcome = await self._request(
            {"op": "exec", "code": code, "limit": self.config.action_timeout})
        return self._result(outcome, restarted, crash)

    async def get_variable(self, name: str) -> tuple[bool, str]:
        """``(True, str(value))`` of a variable, or ``(False, what to tell the model)``."""
        *_, outcome = await self._request({"op": "getvar", "name": name})
        if outcome.reply is None or outcome.timed_out:
            why = "it took too long" if outcome.timed_out else outcome.crash
            return False, (f"Variable {name!r} could not be read ({why}); the sandbox was "
                           f"restarted and its variables are gone.")
        return bool(outcome.reply.get("ok")), _clean(str(outcome.reply.get("value")))

    async def set_variable(self, name: str, value: Any) -> bool:
        """Set the variable ``name`` of the worker to a JSON ``value``; False when the worker
        could not take it (it died doing so: a fresh one will be started by the next call)."""
        *_, outcome = await self._request({"op": "setvar", "name": name, "value": value})
        return outcome.reply is not None and not outcome.timed_out

    async def _request(self, msg: dict[str, Any]) -> tuple[bool, str | None, _Outcome]:
        """One request to a live worker (started first if there is none): whether it was
        restarted and why, and what it answered. A cancel drops the worker (mid-request)."""
        async with self._lock:
            self._check_open()
            await self._wait_booted()
            try:
                restarted, crash = await self._ensure_worker()
                return restarted, crash, await self._exchange(msg)
            except asyncio.CancelledError:
                self._drop_worker()
                raise

    async def close(self) -> None:
        """Kill the worker's process group. Idempotent.

        With a shared pool the sweep and reaping finish in the background (the pool's
        ``close`` waits for them); with a private pool this waits until all are gone.
        """
        self._closed = True
        booting, self._booting = self._booting, None
        if booting is not None and not booting.done():
            booting.cancel()
            await asyncio.gather(booting, return_exceptions=True)
        self._drop_worker()
        if self._owns_pool:
            await self._pool.close()

    # --- the worker's life ------------------------------------------------------------------

    async def _wait_booted(self) -> None:
        """Wait for the first boot (``begin``); its failure closes the sandbox and is raised."""
        booting = self._booting
        if booting is None:
            return
        try:
            await asyncio.shield(booting)
        except BaseException:
            if booting.done():  # failed (not our caller cancelled): it is of no more use
                self._booting = None
                await asyncio.shield(self.close())
            raise
        self._booting = None

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("This sandbox is closed; start a new one.")

    async def _boot(self) -> None:
        worker = await self._pool.acquire(self.label)
        self._worker = worker
        worker.channel.on_call = lambda msg: self._on_call(worker, msg)
        request = worker.channel.request({
            "op": "load", "context": self.source.to_wire() if self.source else None,
            "memory_mb": self.config.memory_mb, "network": self.config.allow_network,
            "files": rules(self.config, worker.folder, self.source),
            "max_output": self.config.max_output_chars, "tools": list(self.config.tools)})
        try:
            reply = await asyncio.wait_for(request, max(60.0, self.config.action_timeout))
        except TimeoutError:
            reply = None
        finally:
            self._pool.refill()
        if reply is None or reply.get("error"):
            message = await self._load_failure(worker, reply)
            self._drop_worker()
            raise SandboxError(message)
        self.network, self.files = reply["network"], reply["files"]

    async def _load_failure(self, worker: WorkerProcess, reply: dict[str, Any] | None) -> str:
        where = f"{self.source.kind} context from {self.source.path}" if self.source else "context"
        if reply is not None:
            hint = (f" It does not fit in the memory limit: raise SandboxConfig.memory_mb "
                    f"(now {self.config.memory_mb})." if "MemoryError" in reply["error"] else "")
            return f"The sandbox could not load the {where}: {reply['error']}.{hint}"
        crash = worker.describe_exit(await worker.wait_exit(1.0), self.config.memory_mb)
        return (f"The sandbox worker failed while loading the {where} ({crash}). "
                f"Its log:\n{worker.log.text()[-2000:]}")

    async def _ensure_worker(self) -> tuple[bool, str | None]:
        """A live worker; returns whether a fresh one had to be started, and why."""
        worker = self._worker
        if worker is not None and worker.alive:
            return False, None
        crash = None
        if worker is not None:  # it died while idle
            crash = worker.describe_exit(await worker.wait_exit(1.0), self.config.memory_mb)
        await self._replace_worker()
        return True, crash

    async def _replace_worker(self) -> None:
        self._drop_worker()
        if self._closed:
            raise SandboxError("The sandbox was closed while an action ran.")
        await self._boot()

    def _drop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.clock = None
            self._pool.release(worker)

    # --- one exchange under the action clock --------------------------------------------------

    async def _exchange(self, msg: dict[str, Any]) -> _Outcome:
        worker = self._worker
        assert worker is not None, "_ensure_worker runs before every exchange"
        clock = ActionClock(self.config.action_timeout, paused=len(worker.calls))
        worker.clock = clock
        reply = worker.channel.request(msg)
        try:
            await asyncio.wait((reply, clock.expired), return_when=asyncio.FIRST_COMPLETED)
        finally:
            seconds = clock.stop()
            worker.clock = None
        if reply.done() and reply.result() is not None:
            return _Outcome(reply.result(), seconds)
        if reply.done():  # the worker died or broke the protocol (then it may still run)
            broke = worker.channel.closed.result().startswith("protocol error")
            code = await worker.wait_exit(0.0 if broke else 2.0)
            crash = worker.describe_exit(code, self.config.memory_mb)
            await self._replace_worker()
            return _Outcome(None, seconds, restarted=True, crash=crash)
        worker.interrupt()  # KeyboardInterrupt: the code sends back what it printed so far
        try:
            partial = await asyncio.wait_for(asyncio.shield(reply), GRACE)
        except TimeoutError:
            partial = None
        await self._replace_worker()
        return _Outcome(partial, seconds, timed_out=True, restarted=True)

    def _result(self, outcome: _Outcome, restarted: bool, crash: str | None) -> ActionResult:
        reply = outcome.reply or {}
        error = reply.get("error")
        if outcome.timed_out and not error:
            error = (f"TimeoutError: the action ran past its {self.config.action_timeout:g} s "
                     f"time limit and was stopped")
        return ActionResult(
            stdout=_clean(reply.get("stdout", "")), stderr=_clean(reply.get("stderr", "")),
            stdout_cut=reply.get("stdout_cut", 0), stderr_cut=reply.get("stderr_cut", 0),
            error=_clean(error), final=_clean(reply.get("final")),
            final_error=_clean(reply.get("final_error")),
            timed_out=outcome.timed_out, restarted=restarted or outcome.restarted,
            crash=outcome.crash or crash, seconds=outcome.seconds)

    # --- calls from user code -----------------------------------------------------------------

    def _on_call(self, worker: WorkerProcess, msg: dict[str, Any]) -> None:
        # Pause and resume synchronously with the set of calls, so a clock created while a
        # call is in flight (it starts paused once per call) always balances.
        task = asyncio.get_running_loop().create_task(self._serve(worker, msg))
        worker.calls.add(task)
        if worker.clock is not None:
            worker.clock.pause()
        task.add_done_callback(lambda done: self._call_done(worker, done))

    @staticmethod
    def _call_done(worker: WorkerProcess, task: asyncio.Task) -> None:
        worker.calls.discard(task)
        if worker.clock is not None:
            worker.clock.resume()

    async def _serve(self, worker: WorkerProcess, msg: dict[str, Any]) -> None:
        reply = await self._answer(msg)
        try:
            frame = encode(reply)
        except (TypeError, ValueError) as exc:
            frame = encode({"op": "reply", "id": msg.get("id"),
                            "error": f"the host's answer could not be sent: {exc}"})
        if worker.conn is not None:
            worker.conn.send_bytes(frame)

    async def _answer(self, msg: dict[str, Any]) -> dict[str, Any]:
        call_id, name, payload = msg.get("id"), msg.get("name"), msg.get("payload")
        if name not in CALLS or not isinstance(payload, dict):
            return {"op": "reply", "id": call_id, "error": f"unknown call {name!r}"}
        try:
            result = await self._handler(name, payload)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we cancelled it: the worker is gone, nobody waits for a reply
            return {"op": "reply", "id": call_id, "error": f"{name} was cancelled"}
        except Exception as exc:  # noqa: BLE001 - any handler error goes back to the code
            return {"op": "reply", "id": call_id, "error": str(exc) or type(exc).__name__}
        return {"op": "reply", "id": call_id, "result": result}


@overload
def _clean(text: str) -> str: ...
@overload
def _clean(text: None) -> None: ...
def _clean(text: str | None) -> str | None:
    """Lone surrogates (from bytes decoded with surrogateescape) would break the model
    request and the trace: replace them."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _retrieve(task: asyncio.Task) -> None:
    """A boot nobody waits for (an agent that answered without code) may fail unseen."""
    if not task.cancelled():
        task.exception()
