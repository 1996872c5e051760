"""What the model reads: the system prompt, the first message, reminders.

Written for small local models: short, one worked example, the protocol stated plainly.
The history is append-only (system, first message, then reply / observation pairs), so a
local server's prompt cache reuses the whole prefix turn after turn.
"""

from __future__ import annotations

from typing import Any

from rlm.llm.tokens import estimate_tokens

TASK_PREVIEW_CHARS = 1000

SYSTEM_PROMPT = """\
You answer a task about a large input that you cannot read directly. The input is the \
variable `context` in a Python REPL. Work in steps. Each reply is:

Thought: what you will do next and why.
```repl
# Python code; print() what you want to see
```

You will then get `Observation:` with what the code printed. Look before you conclude: \
never guess output. When you know the answer, reply with no code:

Thought: why this is the answer.
Final Answer: the answer

In the REPL you have:
- `context`: the input ({context_type}).
{sub_call_tools}\
- `FINAL(value)` ends with `value`; `FINAL_VAR("name")` ends with the value of variable `name`.
- `SHOW_VARS()` lists your variables. Variables persist between steps. As in a REPL, a last \
bare expression is printed.{tools}

Example:
Thought: The context is long; I will search it for the number.
```repl
import re
hits = [line for line in context.splitlines() if "magic number" in line]
print(len(hits), hits[:3])
```
Observation: 1 ['The magic number is 4711.']
Thought: The line gives the number.
Final Answer: 4711

Rules: one step per reply; never write `Observation:` yourself; print only what you need \
(long output is cut); do not load the whole context into a prompt: slice it.\
"""

SUB_CALL_TOOLS = """\
- `llm_query(prompt) -> str`: ask a language model about a piece of text (it sees only the prompt).
- `llm_query_batched(prompts) -> list[str]`: many llm_query calls at once, answers in order.
- `rlm_query(task, context=None) -> str`: give a sub-task and its own context to a helper agent \
like you; you get back only its final answer.
- `rlm_query_batched(tasks, contexts=None) -> list[str]`: several helper agents at once.
"""

FORMAT_REMINDER = """\
Observation: Your reply had neither a ```repl code block nor a final answer. Reply with \
`Thought:` and then either one ```repl block of Python to run, or `Final Answer: <answer>`.\
"""

ANSWER_BEFORE_OUTPUT = """\
Note: your reply contained both code and a Final Answer. The answer was not accepted, \
because it was written before you saw the code's output. Read the output above, then give \
`Final Answer:` in a reply with no code.\
"""

BEST_ANSWER = """\
Observation: Stop here: {reason}. Do not write code. Give your best answer now from what \
you have found, as `Final Answer: <answer>` (say if it is uncertain).\
"""

RESTARTED = """\
[The sandbox was restarted ({why}): all your variables are gone; `context` was loaded again.]\
"""


def system_prompt(context_info: dict[str, Any], tools: str = "", *,
                  sub_calls: bool = True) -> str:
    """The system prompt; ``tools`` lists the host's tools (``rlm.core.tools``), if any;
    with ``sub_calls=False`` it does not offer llm_query/rlm_query."""
    listed = f"\nTools (call them from code; they return data):\n{tools}" if tools else ""
    return SYSTEM_PROMPT.format(context_type=context_info.get("type", "str"), tools=listed,
                                sub_call_tools=SUB_CALL_TOOLS if sub_calls else "")


def first_message(task: str, context_info: dict[str, Any], *, task_is_context: bool,
                  sub_calls: bool = True) -> str:
    """The task and facts about the context, with a strategy hint for its size."""
    lines = ["Task: " + _task_text(task, task_is_context), "", "About `context`:"]
    lines += [f"- {line}" for line in _facts(context_info)]
    hint = strategy_hint(context_info, sub_calls=sub_calls)
    lines += ["", "Strategy: " + hint, "", "Begin with `Thought:`."]
    return "\n".join(lines)


def _task_text(task: str, task_is_context: bool) -> str:
    if not task_is_context or len(task) <= TASK_PREVIEW_CHARS:
        return task
    return (f"{task[:TASK_PREVIEW_CHARS]}\n[... the prompt goes on: all {len(task):,} characters "
            f"of it are in `context`.]")


def _facts(info: dict[str, Any]) -> list[str]:
    facts = [f"type: {info.get('type', 'str')}"]
    size = info.get("chars") or info.get("bytes")
    if size and "tokens" not in info:
        info = {**info, "tokens": estimate_tokens(int(size))}
    for key, label in (("chars", "characters"), ("bytes", "bytes"), ("lines", "lines"),
                       ("items", "items"), ("tokens", "tokens (approx.)")):
        if info.get(key) is not None:
            facts.append(f"{label}: {info[key]:,}")
    if info.get("source") == "folder":
        facts.append("a folder: dict of relative path -> file text")
        if info.get("skipped_binary"):
            facts.append(f"binary files left out: {', '.join(info['skipped_binary'][:10])}")
    if info.get("keys"):
        facts.append(f"keys: {', '.join(info['keys'][:20])}")
    preview = str(info.get("preview", ""))[:300]
    if preview:
        facts.append("starts with:\n" + _indent(preview))
    return facts


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines()[:12])


def strategy_hint(info: dict[str, Any], *, sub_calls: bool = True) -> str:
    """Different advice for small, medium and huge contexts (without sub-calls: code only)."""
    size = int(info.get("chars") or info.get("bytes") or 0)
    if size <= 8_000:
        return "the context is small: print it and read it, then answer."
    if not sub_calls:
        return ("look at its structure first (length, a few lines), then search and "
                "process it with Python (str.find, re, splitlines, loops over chunks) and "
                "print only what you need; never print it whole.")
    if size <= 400_000:
        return ("the context is medium: look at its structure first (length, a few lines), "
                "then search it with Python (str.find, re, splitlines) and print only the "
                "matching parts; use llm_query on chunks if you must read meaning.")
    return ("the context is huge: never print it whole. Search it with Python first (re, "
            "keywords). If you must read it, split it into chunks and use "
            "llm_query_batched or rlm_query_batched on the chunks, then combine the answers.")


def observation(text: str) -> str:
    return "Observation: " + text
