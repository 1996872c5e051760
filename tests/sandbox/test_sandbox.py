"""The sandbox, driven as the engine drives it: real worker processes, real protocol."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from rlm.context import ContextSource, prepare_context
from rlm.sandbox import ActionResult, SandboxConfig, SandboxPool
from tests.sandbox.helpers import FAST, start


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


async def test_the_host_can_set_a_variable_the_code_then_reads(text_source):
    async with await start(text_source) as box:
        assert await box.set_variable("history", [{"step": 1, "output": "a"}])
        assert await box.set_variable("history", [{"step": 1, "output": "a"},
                                                  {"step": 2, "output": "b"}])
        result = await box.run("print([h['output'] for h in history])")
    assert result.stdout == "['a', 'b']\n"
