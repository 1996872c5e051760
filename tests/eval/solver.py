"""A model that solves every eval task, for tests: by reading the prompt (base arm) and by
writing code (RLM arms).

``SOLVER_SRC`` is plain Python that solves a task from its question and the text it can
see, knowing nothing of the generators: it reads records back from the text and infers
each label from cue phrases (``cue_label``), or asks ``llm_query`` for them (the ``rlm``
arm). The same source is executed here (the base arm, and the brute-force checks of the
generators) and sent as the RLM's code, where it runs in the sandbox.
"""

from __future__ import annotations

import re

from rlm.llm.scripted import ScriptedModel

SOLVER_SRC = r'''
import collections, itertools, re

CUES = {"abbreviation": ("stand for", "full form", "short for", "acronym"),
        "entity": ("instrument did", "breed of", "fruit is used", "name of the ship"),
        "description": ("Why do", "How does", "the word", "difference between"),
        "human": ("Who wrote", "Who invented", "Which scientist", "first mayor"),
        "location": ("Where is", "In which country", "Which city hosted", "river flows"),
        "numeric": ("How many", "In what year", "How far", "population of")}
RECORD = re.compile(r"^Record (\d+) \| user (\d+) \| (\d{4}-\d\d-\d\d) \| (.*)$", re.M)


def cue_label(text):
    return next(label for label, cues in CUES.items() if any(c in text for c in cues))


def solve(question, text, label_all):
    needle = re.search(r"special magic number for (\S+) mentioned", question)
    if needle:
        found = re.search("special magic number for " + re.escape(needle.group(1))
                          + r" is (\d+)", text)
        return found.group(1) if found else "not found"
    records = RECORD.findall(text)
    labels = label_all([r[3] for r in records])
    rows = [(int(r[0]), int(r[1]), r[2], lab) for r, lab in zip(records, labels)]
    ask = question.split("\n\n")[-1]
    counts = collections.Counter({lab: 0 for lab in CUES})
    counts.update(lab for *_, lab in rows)
    m = re.match(r"How many records have the label (\w+)\?", ask)
    if m:
        return str(counts[m.group(1)])
    m = re.match(r"How many records dated after (\S+) have the label (\w+)\?", ask)
    if m:
        return str(sum(1 for _, _, d, lab in rows if lab == m.group(2) and d > m.group(1)))
    if ask.startswith("Which label is the most frequent"):
        return max(counts, key=counts.get)
    if ask.startswith("Which label is the least frequent"):
        return min(counts, key=counts.get)
    m = re.match(r"Is the label (\w+) more common.* the label (\w+)\?", ask)
    if m:
        a, b = counts[m.group(1)], counts[m.group(2)]
        return "more common" if a > b else "less common" if a < b else "same frequency"
    m = re.search(r"both have the label (\w+)\?", ask)
    if m:
        want = lambda x, y: x == y == m.group(1)
    elif "have the same label" in ask:
        want = lambda x, y: x == y
    else:
        m = re.search(r"one record has the label (\w+) and the other the label (\w+)\?", ask)
        want = lambda x, y: {x, y} == {m.group(1), m.group(2)}
    users = collections.defaultdict(list)
    for rid, user, _, lab in rows:
        users[user].append((rid, lab))
    pairs = sorted((a[0], b[0]) for group in users.values()
                   for a, b in itertools.combinations(group, 2) if want(a[1], b[1]))
    return ", ".join(f"({a}, {b})" for a, b in pairs) or "none"
'''

NAMESPACE: dict = {}
exec(SOLVER_SRC, NAMESPACE)  # noqa: S102  (our own source: the same that runs in the sandbox)
solve = NAMESPACE["solve"]
cue_label = NAMESPACE["cue_label"]
RECORD_LINE: re.Pattern[str] = NAMESPACE["RECORD"]


def solve_by_cues(question: str, text: str) -> str:
    return solve(question, text, lambda texts: [cue_label(t) for t in texts])


def base_reply(prompt: str) -> str:
    """Answer a base prompt by reading what it shows (a cut prompt shows less)."""
    question = prompt.split("Question: ", 1)[1].split("\n\nThe text:\n<<<\n", 1)[0]
    text = prompt.split("<<<\n", 1)[1].rsplit("\n>>>", 1)[0]
    return solve_by_cues(question, text)


def rlm_code(task: str, sub_calls: bool, turn: int) -> str:
    """The RLM's two actions (each within a reply's token budget): define the solver, then
    answer with it, labels from llm_query (the ``rlm`` arm) or from cues."""
    if turn == 0:
        return f"Thought: I will write a solver.\n```repl\n{SOLVER_SRC}\n```"
    labeller = ("lambda texts: llm_query_batched(['LABEL: ' + t for t in texts])"
                if sub_calls else "lambda texts: [cue_label(t) for t in texts]")
    return (f"Thought: now I solve it.\n```repl\n"
            f"FINAL(solve({task!r}, context, {labeller}))\n```")


def reply(messages: list[dict], model: str) -> str:
    first = str(messages[0]["content"])
    if messages[0]["role"] == "system":  # an RLM agent: its task is in the first message
        task = str(messages[1]["content"]).split("Task: ", 1)[1]
        task = task.split("\n\nAbout `context`:", 1)[0]
        turn = sum(1 for m in messages if m["role"] == "assistant")
        return rlm_code(task, sub_calls="llm_query(prompt)" in first, turn=turn)
    if first.startswith("LABEL: "):  # a sub-call of the rlm arm
        return cue_label(first.removeprefix("LABEL: "))
    return base_reply(first)


def solver_model(delay: float = 0.0) -> ScriptedModel:
    """A ``ScriptedModel`` that solves every task (see the module docstring)."""
    return ScriptedModel(reply, delay=delay)


def label_words() -> re.Pattern[str]:
    return re.compile(r"\b(abbreviation|entity|description|human|location|numeric)\b",
                      re.IGNORECASE)
