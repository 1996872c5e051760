"""The sandbox, driven as the engine drives it: real worker processes, real protocol."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rlm.context import ContextSource, prepare_context
from rlm.errors import SandboxError
from rlm.sandbox import ActionResult, Sandbox, SandboxConfig, SandboxPool

FAST = SandboxConfig(action_timeout=10.0, memory_mb=1024)


async def echo(op: str, payload: dict) -> object:
    return {"op": op, "payload": payload}


@pytest.fixture
def text_source(tmp_path: Path) -> ContextSource:
    return prepare_context("the magic number is 42\n", tmp_path)


async def start(source, handler=echo, config=FAST, **kw) -> Sandbox:
    return await Sandbox.start(source, config=config, handler=handler, **kw)


async def test_variables_persist_across_actions(text_source):
    async with await start(text_source) as box:
        first = await box.run("x = 41\ndef inc(v):\n    return v + 1")
        second = await box.run("print(inc(x))")
    assert first == ActionResult(seconds=first.seconds)
    assert second.stdout == "42\n" and second.error is None and not second.restarted


async def test_a_last_bare_expression_is_printed_like_a_repl(text_source):
    async with await start(text_source) as box:
        result = await box.run("n = len(context)\nn * 2")
        quiet = await box.run("None")
    assert result.stdout == f"{2 * len(text_source.path.read_text())}\n"
    assert quiet.stdout == ""


@pytest.mark.parametrize("value, expected", [
    ("line one\r\nline two é \U0001f600", "'line one\\r\\nline two é \U0001f600'"),
    (b"\x00\xffbytes", "b'\\x00\\xffbytes'"),
    ([1, "two", {"three": 3}], "[1, 'two', {'three': 3}]"),
    ({"a": [1, 2]}, "{'a': [1, 2]}"),
])
async def test_each_context_kind_loads(tmp_path, value, expected):
    async with await start(prepare_context(value, tmp_path)) as box:
        result = await box.run("print(repr(context))")
    assert result.stdout == expected + "\n"


async def test_a_folder_comes_as_json(tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.md").write_text("beta")
    out = tmp_path / "out"
    out.mkdir()
    source = prepare_context(folder, out)
    async with await start(source) as box:
        result = await box.run("print(sorted(context.items()))")
    assert source.kind == "json"
    assert result.stdout == "[('a.txt', 'alpha'), ('sub/b.md', 'beta')]\n"


async def test_all_four_calls_reach_the_handler(text_source):
    seen: list[tuple[str, dict, object]] = []

    async def handler(op, payload):
        loaded = [_load(c) for c in payload.get("contexts") or []] or _load(payload.get("context"))
        seen.append((op, payload, loaded))
        return "answer" if op in ("llm_query", "rlm_query") else ["a", "b"]

    code = ("r1 = llm_query('p1')\n"
            "r2 = llm_query_batched(['p2', 'p3'], model='m')\n"
            "r3 = rlm_query('t1', context={'k': [1, 2]})\n"
            "r4 = rlm_query_batched(['t2', 't3'], contexts=['some text', b'\\x01\\x02'])\n"
            "r5 = rlm_query('t4')\n"
            "print(r1, r2, r3, r4, r5)")
    async with await start(text_source, handler=handler) as box:
        result = await box.run(code)
    assert result.error is None
    assert result.stdout == "answer ['a', 'b'] answer ['a', 'b'] answer\n"
    ops = [(op, {k: v for k, v in p.items() if k not in ("context", "contexts")})
           for op, p, _ in seen]
    assert ops == [("llm_query", {"prompt": "p1", "model": None}),
                   ("llm_query_batched", {"prompts": ["p2", "p3"], "model": "m"}),
                   ("rlm_query", {"task": "t1", "model": None}),
                   ("rlm_query_batched", {"tasks": ["t2", "t3"], "model": None}),
                   ("rlm_query", {"task": "t4", "model": None})]
    assert seen[2][2] == ("json", {"k": [1, 2]})
    assert seen[3][2] == [("text", "some text"), ("bytes", b"\x01\x02")]
    assert seen[4][1]["context"] is None


def _load(wire):
    if wire is None:
        return None
    source = ContextSource(wire["kind"], Path(wire["path"]))
    if source.kind == "text":
        return "text", source.path.read_text(encoding="utf-8")
    if source.kind == "bytes":
        return "bytes", source.path.read_bytes()
    return "json", json.loads(source.path.read_text(encoding="utf-8"))


async def test_a_handler_error_is_a_runtime_error_in_user_code(text_source):
    async def handler(op, payload):
        raise ValueError("the model is not pulled; run: ollama pull llama3")

    async with await start(text_source, handler=handler) as box:
        caught = await box.run("try:\n    llm_query('x')\nexcept RuntimeError as e:\n"
                               "    print('caught:', e)")
        uncaught = await box.run("answer = llm_query('x')")
    assert caught.stdout == "caught: the model is not pulled; run: ollama pull llama3\n"
    assert uncaught.error == (
        "Traceback (most recent call last):\n"
        '  File "<action 2>", line 1, in <module>\n'
        "    answer = llm_query('x')\n"
        "RuntimeError: the model is not pulled; run: ollama pull llama3")


async def test_threads_in_user_code_can_call_the_host_at_once(text_source):
    both_in = asyncio.Barrier(2)

    async def handler(op, payload):
        await asyncio.wait_for(both_in.wait(), 5)  # fails unless the two calls overlap
        return payload["prompt"].upper()

    code = ("from concurrent.futures import ThreadPoolExecutor\n"
            "with ThreadPoolExecutor(2) as pool:\n"
            "    print(list(pool.map(llm_query, ['a', 'b'])))")
    async with await start(text_source, handler=handler) as box:
        result = await box.run(code)
    assert result.stdout == "['A', 'B']\n", result.error


async def test_handlers_of_several_sandboxes_run_at_once(text_source):
    both_in = asyncio.Barrier(2)

    async def handler(op, payload):
        await asyncio.wait_for(both_in.wait(), 5)  # fails unless the two calls overlap
        return "met"

    async with await start(text_source, handler=handler) as one, \
            await start(text_source, handler=handler) as two:
        results = await asyncio.gather(one.run("print(llm_query('a'))"),
                                       two.run("print(llm_query('b'))"))
    assert [r.stdout for r in results] == ["met\n", "met\n"]


async def test_a_child_sandbox_loads_the_context_its_parent_wrote(text_source):
    pool = SandboxPool(FAST, warm=1)

    async def handler(op, payload):  # what the engine does for rlm_query
        source = ContextSource(payload["context"]["kind"], Path(payload["context"]["path"]))
        async with await start(source, handler=handler, pool=pool) as child:
            result = await child.run(f"FINAL(str(context['n'] * 2) + ' ' + {payload['task']!r})")
        return result.final

    try:
        async with await start(text_source, handler=handler, pool=pool) as parent:
            result = await parent.run("print(rlm_query('from the child', context={'n': 21}))")
    finally:
        await pool.close()
    assert result.stdout == "42 from the child\n"


async def test_errors_show_the_users_lines_not_the_workers(text_source):
    async with await start(text_source) as box:
        runtime = await box.run("def f(d):\n    return d['missing']\n\nf({})")
        syntax = await box.run("x = 1\nif x\n    print(x)")
        later = await box.run("f({'missing': 7})")
    assert runtime.error == (
        "Traceback (most recent call last):\n"
        '  File "<action 1>", line 4, in <module>\n'
        "    f({})\n"
        '  File "<action 1>", line 2, in f\n'
        "    return d['missing']\n"
        "KeyError: 'missing'")
    assert syntax.error.startswith('  File "<action 2>", line 2\n    if x\n')
    assert syntax.error.endswith("SyntaxError: expected ':'")
    assert later.stdout == "7\n" and later.error is None


async def test_final_records_the_answer_and_the_block_runs_on(text_source):
    async with await start(text_source) as box:
        final = await box.run("FINAL(6 * 7)\nprint('still running')")
        last_wins = await box.run("FINAL('first')\nanswer = 'second'\nFINAL_VAR('answer')")
        missing = await box.run("FINAL_VAR('nope')")
        clean = await box.run("x = 1")
        found = await box.get_variable("answer")
        not_found = await box.get_variable("nope")
    assert (final.final, final.stdout) == ("42", "still running\n")
    assert last_wins.final == "second" and last_wins.final_error is None
    assert missing.final is None and missing.final_error.startswith(
        "Variable 'nope' is not defined; defined variables: ")
    assert "answer" in missing.final_error and "FINAL_VAR" in missing.final_error
    assert clean.final is None and clean.final_error is None
    assert found == (True, "second")
    assert not_found[0] is False and not_found[1].startswith("Variable 'nope' is not defined")


async def test_reading_a_variable_that_never_finishes_is_stopped(text_source):
    config = SandboxConfig(action_timeout=0.5, memory_mb=1024)
    async with await start(text_source, config=config) as box:
        await box.run("class Forever:\n    def __str__(self):\n        while True:\n"
                      "            pass\nanswer = Forever()")
        found, message = await box.get_variable("answer")
        after = await box.run("print('answer' in globals())")
    assert not found and message == ("Variable 'answer' could not be read (it took too long); "
                                     "the sandbox was restarted and its variables are gone.")
    assert after.stdout == "False\n"


async def test_exit_ends_the_block_not_the_worker(text_source):
    async with await start(text_source) as box:
        clean = await box.run("print('a')\nexit()\nprint('b')")
        failed = await box.run("import sys\nsys.exit(2)")
        after = await box.run("print('alive')")
    assert (clean.stdout, clean.error) == ("a\n", None)
    assert failed.error.endswith("SystemExit: 2") and not failed.restarted
    assert after.stdout == "alive\n" and not after.restarted


async def test_lone_surrogates_in_output_are_replaced(text_source):
    async with await start(text_source) as box:
        result = await box.run("print(b'ok \\xff'.decode('utf-8', 'surrogateescape'))")
    assert result.stdout == "ok ?\n"


async def test_show_vars_lists_the_users_variables_only(text_source):
    async with await start(text_source) as box:
        result = await box.run("import re\nitems = [1, 2, 3]\nname = 'abc'\nSHOW_VARS()")
    assert result.stdout == ("context: str, 23 chars: 'the magic number is 42\\n'\n"
                             "items: list, 3 items: [1, 2, 3]\n"
                             "name: str, 3 chars: 'abc'\n")


async def test_an_infinite_loop_is_stopped_and_context_reloaded(text_source):
    config = SandboxConfig(action_timeout=0.5, memory_mb=1024)
    async with await start(text_source, config=config) as box:
        await box.run("x = 1\ncontext = 'changed'")
        old_pid = box.pid
        looped = await box.run("print('before the loop')\nwhile True:\n    pass")
        after = await box.run("print(context, 'x' in globals())")
    assert looped.timed_out and looped.restarted and looped.crash is None
    assert looped.stdout == "before the loop\n"
    assert looped.error.endswith("TimeoutError: the action ran past its 0.5 s time limit "
                                 "and was stopped")
    assert '  File "<action 2>", line ' in looped.error
    assert box.pid != old_pid
    assert after.stdout == "the magic number is 42\n False\n" and not after.restarted


async def test_waiting_on_the_handler_does_not_count_as_running_time(text_source):
    async def slow(op, payload):
        await asyncio.sleep(0.6)
        return "done"

    config = SandboxConfig(action_timeout=0.4, memory_mb=1024)
    async with await start(text_source, handler=slow, config=config) as box:
        result = await box.run("print(llm_query('think hard'))\nprint(llm_query('again'))")
    assert not result.timed_out and result.stdout == "done\ndone\n"
    assert result.seconds < 0.4


@pytest.mark.parametrize("code, crash", [
    ("import os\nos._exit(1)", "exit code 1"),
    ("import ctypes\nctypes.string_at(0)", "killed by signal SIGSEGV"),
])
async def test_a_dying_worker_is_restarted_and_the_host_lives(text_source, code, crash):
    async with await start(text_source) as box:
        await box.run("x = 1")
        died = await box.run(code)
        after = await box.run("print(context.split()[-1], 'x' in globals())")
    assert died.restarted and died.crash == crash and not died.timed_out
    assert after.stdout == "42 False\n" and not after.restarted


async def test_garbage_on_the_channel_restarts_the_worker(text_source):
    async with await start(text_source) as box:
        # The worker's argv names its channel's fd.
        broke = await box.run("import os, sys, time\n"
                              "os.write(int(sys.argv[1]), b'not a frame of ours')\ntime.sleep(5)")
        after = await box.run("print(context[:3])")
    assert broke.restarted and broke.crash.startswith("the worker broke its protocol")
    assert after.stdout == "the\n"


async def test_a_worker_killed_while_idle_is_restarted_before_the_next_action(text_source):
    async with await start(text_source) as box:
        await box.run("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)")
        result = await box.run("print(context[:3])")
    assert result.stdout == "the\n" and result.error is None


async def test_calls_in_flight_are_cancelled_when_the_worker_dies(text_source, tmp_path):
    started, cancelled = asyncio.Event(), asyncio.Event()
    flag = tmp_path / "call-arrived"

    async def hangs(op, payload):
        started.set()
        Path(payload["prompt"]).touch()  # tells the code its call reached the host
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    code = ("import threading, time, os\n"
            f"threading.Thread(target=llm_query, args=({str(flag)!r},), daemon=True).start()\n"
            f"while not os.path.exists({str(flag)!r}):\n    time.sleep(0.01)\n"
            "os._exit(3)")
    async with await start(text_source, handler=hangs) as box:
        result = await box.run(code)
        await asyncio.wait_for(cancelled.wait(), 5)
    assert started.is_set() and result.crash == "exit code 3" and result.restarted


async def test_printing_100_mb_gives_a_bounded_result(text_source):
    config = SandboxConfig(action_timeout=30, memory_mb=2048, max_output_chars=1000)
    code = ("print('H' * 600, end='')\n"
            "for _ in range(100):\n    print('x' * 1_000_000, end='')\n"
            "print('T' * 600, end='')\n"
            "import sys\n_ = sys.stderr.write('e' * 5000)")
    async with await start(text_source, config=config) as box:
        result = await box.run(code)
    total = 600 + 100_000_000 + 600
    assert result.stdout_cut == total - 1000
    assert result.stdout == ("H" * 500 + f"\n... [{total - 1000:,} characters cut] ...\n"
                             + "T" * 500)
    assert result.stderr == "e" * 500 + "\n... [4,000 characters cut] ...\n" + "e" * 500
    assert result.stderr_cut == 4000


async def test_output_written_to_raw_fds_stays_out_of_the_protocol(text_source):
    async with await start(text_source) as box:
        result = await box.run("import os\nos.write(1, b'raw stdout\\n')\n"
                               "os.write(2, b'raw stderr\\n')\nprint('captured')")
        after = await box.run("print('still fine')")
        await asyncio.sleep(0.1)
        log = box.log
    assert result.stdout == "captured\n" and after.stdout == "still fine\n"
    assert "raw stdout" in log and "raw stderr" in log


async def test_a_stream_kept_from_an_earlier_action_still_shows(text_source):
    async with await start(text_source) as box:
        await box.run("import logging, sys\nlog = logging.getLogger('t')\n"
                      "log.addHandler(logging.StreamHandler(sys.stdout))\nout = sys.stdout")
        result = await box.run("log.warning('from a handler')\n_ = out.write('kept stream\\n')")
    assert result.stdout == "from a handler\nkept stream\n"


async def test_no_secret_reaches_the_worker(text_source, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "sk-test-123")
    monkeypatch.setenv("SOME_PROXY_URL", "https://user:sk-test-123@proxy.example")
    monkeypatch.setenv("MY_AUTH_HEADER", "Bearer abcdef")
    monkeypatch.setenv("HARMLESS_SETTING", "kept")
    code = ("import os\nenv = open('/proc/self/environ', 'rb').read().decode()\n"
            "print(sorted(k for k in os.environ if k in "
            "('GROQ_API_KEY', 'SOME_PROXY_URL', 'MY_AUTH_HEADER', 'HARMLESS_SETTING')))\n"
            "print('sk-test-123' in env, 'GROQ' in env, 'abcdef' in env)")
    async with await start(text_source) as box:
        result = await box.run(code)
    assert result.stdout == "['HARMLESS_SETTING']\nFalse False False\n"


async def test_a_memory_limit_gives_memory_error_and_the_worker_lives_on(text_source):
    config = SandboxConfig(action_timeout=30, memory_mb=256)
    async with await start(text_source, config=config) as box:
        await box.run("x = 1")
        big = await box.run("data = bytearray(1024 * 1024 * 1024)")
        grow = await box.run("chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))")
        after = await box.run("del chunks\nprint(x)")
    assert big.error.endswith("MemoryError") and not big.restarted
    assert grow.error.endswith("MemoryError") or grow.restarted
    assert after.stdout == "1\n" or grow.restarted


async def test_a_context_larger_than_the_memory_limit_is_a_sandbox_error(tmp_path):
    source = prepare_context("x" * (64 << 20), tmp_path)
    with pytest.raises(SandboxError, match="memory limit: raise SandboxConfig.memory_mb"):
        await start(source, config=SandboxConfig(memory_mb=32))


async def test_cancelling_run_kills_the_worker_and_cancels_its_calls(text_source):
    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def hangs(op, payload):
        entered.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with await start(text_source, handler=hangs) as box:
        await box.run("x = 1")
        pid = box.pid
        task = asyncio.create_task(box.run("llm_query('forever')"))
        await asyncio.wait_for(entered.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cancelled.is_set() and box.pid == 0
        after = await box.run("print('x' in globals(), context[:3])")
    assert after.restarted and after.stdout == "False the\n" and pid != box.pid


async def test_a_closed_sandbox_refuses_to_run(text_source):
    box = await start(text_source)
    await box.close()
    await box.close()  # idempotent
    with pytest.raises(SandboxError, match="closed"):
        await box.run("x = 1")


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve():
        try:
            while True:
                accepted.append(server.accept()[0])
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()
    for conn in accepted:
        conn.close()


CONNECT = ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)"
           ".close()\n    print('connected')\nexcept OSError as exc:\n    print('refused')")


async def test_network_is_refused_by_default(text_source, listener):
    port, accepted = listener
    async with await start(text_source) as box:
        result = await box.run(CONNECT.format(port=port))
    assert box.network in ("namespace", "guard")
    assert result.stdout == "refused\n" and not accepted


async def test_network_works_when_allowed(text_source, listener):
    port, _ = listener
    config = SandboxConfig(allow_network=True, memory_mb=1024)
    async with await start(text_source, config=config) as box:
        result = await box.run(CONNECT.format(port=port))
    assert box.network == "allowed" and result.stdout == "connected\n"


def test_the_python_guard_refuses_ip_sockets_but_not_unix_ones(listener):
    port, accepted = listener
    code = ("from rlm.sandbox import netguard\nimport socket\nnetguard.install_guard()\n"
            "a, b = socket.socketpair(); a.sendall(b'ok'); print(b.recv(2).decode())\n"
            f"for make in (lambda: socket.create_connection(('127.0.0.1', {port})),\n"
            f"             lambda: socket.socket().connect(('127.0.0.1', {port})),\n"
            "             lambda: socket.getaddrinfo('localhost', 80)):\n"
            "    try:\n        make(); print('connected')\n"
            "    except PermissionError as exc:\n        print('refused')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=False)
    assert out.stdout == "ok\nrefused\nrefused\nrefused\n", out.stderr
    assert not accepted
