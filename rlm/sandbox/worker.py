"""The sandbox worker process: loads ``context``, then runs the model's code, one action at a time.

Started by the host as ``python -c BOOTSTRAP <fd> <host pid>``, or forked by the fork
server's template (``template.py``), which imported it the same way: as package
``_rlm_sandbox``, without importing ``rlm`` (whose engine the worker never needs).
Stdlib only. The protocol runs on the inherited socket ``fd``; fds 1 and 2 go to the host's
log buffer, while user code's ``print`` is captured per action in ``Bounded`` streams.

An action runs to the end of its block. ``FINAL``/``FINAL_VAR`` only record the answer (the
last call wins); like a REPL, a last bare expression that is not None is printed as its repr.
"""

from __future__ import annotations

import _ast
import faulthandler
import json
import linecache
import os
import signal
import sys

from . import landlock, netguard
from .namespace import Namespace
from .output import Bounded, Switch, format_error
from .protocol import EXIT_MEMORY, REQUESTS, Channel, Mailbox
from .readtext import read_text

TYPE_CHECKING = False  # typing costs the worker's cold start ~5 ms; annotations only
if TYPE_CHECKING:
    from typing import Any

ADOPTION_WAIT = 5.0  # seconds for a forked worker's middle process to exit


class Worker:
    """Answers the host's requests, one at a time, until the host goes away."""

    def __init__(self, mailbox: Mailbox, namespace: Namespace, host_pid: int | None = None):
        self.mailbox = mailbox
        self.host_pid = host_pid  # set: not yet sure to die with the host (``do_load`` asks)
        self.ns = namespace
        self.pid = os.getpid()
        self.max_output = 200_000
        self.actions = 0
        self.stdout, self.stderr = Switch(sys.stdout), Switch(sys.stderr)
        sys.stdout, sys.stderr = self.stdout, self.stderr

    def serve(self) -> None:
        while True:
            msg = self.mailbox.wait_for(lambda m: m.get("op") in REQUESTS)
            try:
                reply = getattr(self, "do_" + msg["op"])(msg)
            except MemoryError:
                reply = {"op": "done", "id": msg.get("id"), "error": "MemoryError"}
            if os.getpid() != self.pid:
                os._exit(0)  # a fork of user code came back here: it must not answer
            try:
                self.mailbox.send(reply)
            except MemoryError:
                os._exit(EXIT_MEMORY)

    def do_load(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self.host_pid is not None:  # a forked worker, adopted by now: before any user code
            netguard.die_with_host(self.host_pid, wait=ADOPTION_WAIT)
            self.host_pid = None
        self.max_output = int(msg.get("max_output") or self.max_output)
        for name in msg.get("tools") or ():
            self.ns.add_tool(str(name))
        network, files = confine(msg)
        reply = {"op": "loaded", "id": msg["id"], "network": network, "files": files,
                 "error": None}
        try:
            self.ns.globals["context"] = read_context(msg.get("context"))
        except BaseException as exc:  # noqa: BLE001 - reported to the host as a load error
            reply["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        netguard.trim_heap()  # the load's chunks: ~1 MB that would stay on the heap
        return reply

    def do_getvar(self, msg: dict[str, Any]) -> dict[str, Any]:
        try:
            ok, value = self.ns.lookup(str(msg.get("name", "")))
        except BaseException as exc:  # noqa: BLE001 - str() of a user object may raise anything
            ok, value = False, format_error(exc)
        return {"op": "done", "id": msg["id"], "ok": ok, "value": value}

    def do_setvar(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.ns.globals[str(msg.get("name", ""))] = msg.get("value")
        return {"op": "done", "id": msg["id"], "ok": True}

    def do_exec(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.actions += 1
        limit = msg.get("limit")
        note = f"the action ran past its {limit:g} s time limit and was stopped" if limit else None
        out, err = Bounded(self.max_output), Bounded(self.max_output)
        self.ns.reset_final()
        self.stdout.target, self.stderr.target = out, err
        sys.stdout, sys.stderr = self.stdout, self.stderr  # in case the code replaced them
        try:
            error = run_code(str(msg.get("code", "")), f"<action {self.actions}>", self.ns.globals)
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything
            error = format_error(exc, note)
        finally:
            self.stdout.target, self.stderr.target = self.stdout.real, self.stderr.real
        stdout, stdout_cut = out.result()
        stderr, stderr_cut = err.result()
        return {"op": "done", "id": msg["id"], "stdout": stdout, "stderr": stderr,
                "stdout_cut": stdout_cut, "stderr_cut": stderr_cut, "error": error,
                "final": self.ns.final, "final_error": self.ns.final_error}


def confine(msg: dict[str, Any]) -> tuple[str, str]:
    """Cut the network, cap memory, confine files; returns what ran for the network and files.

    Files come last, once the worker has everything it needs open (the namespaces need
    /proc/self, which the file rules leave out), and before the context is read: the rules
    name the context's file. A warm worker does this when it gets its context.
    """
    network = "allowed" if msg.get("network") else netguard.isolate_network()
    if msg.get("memory_mb"):
        netguard.limit_memory(int(msg["memory_mb"]))
    files = msg.get("files")
    if files is not None and netguard.private_shm(msg.get("memory_mb")):
        files["write"].append("/dev/shm")
    return network, landlock.confine(files)


def run_code(code: str, filename: str, scope: dict[str, Any]) -> str | None:
    """Run one block; returns None, or the error text for a ``SystemExit`` with a code."""
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    tree = compile(code, filename, "exec", _ast.PyCF_ONLY_AST, dont_inherit=True)
    assert isinstance(tree, _ast.Module)  # mode "exec" parses to a Module (the stub says AST)
    last = None
    if tree.body and isinstance(expr := tree.body[-1], _ast.Expr):
        tree.body.pop()
        last = _ast.Expression(expr.value)
    try:
        exec(compile(tree, filename, "exec", dont_inherit=True), scope)  # noqa: S102
        if last is not None:
            value = eval(compile(last, filename, "eval", dont_inherit=True), scope)
            if value is not None:
                print(repr(value))
    except SystemExit as exc:  # exit() ends the block, not the worker
        if exc.code not in (None, 0):
            return format_error(exc)
    return None


def read_context(spec: dict[str, Any] | None) -> Any:
    if spec is None:
        return None
    kind, path = spec["kind"], spec["path"]
    if kind == "text":
        return read_text(path, spec.get("ascii"))
    if kind == "bytes":
        with open(path, "rb") as src:
            return src.read()
    if kind == "json":
        with open(path, encoding="utf-8") as src:
            return json.load(src)
    raise ValueError(f"unknown context kind {kind!r}")


def main(argv: list[str]) -> None:
    serve(int(argv[0]), int(argv[1]))


def serve(fd: int, host_pid: int, adopted: bool = True) -> None:
    """Be a worker on the protocol socket ``fd`` until the host goes away (a spawned worker
    from ``main``, a forked one from ``template.become_worker``, not yet ``adopted``)."""
    os.set_inheritable(fd, False)  # programs that user code runs must not hold the channel
    if adopted:
        netguard.die_with_host(host_pid)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # how the host stops an action
    faulthandler.enable()  # a segfault leaves its Python traceback in the host's log
    mailbox = Mailbox(Channel(fd))
    namespace = Namespace(mailbox, os.getcwd())
    mailbox.send({"op": "ready", "pid": os.getpid()})
    Worker(mailbox, namespace, None if adopted else host_pid).serve()
