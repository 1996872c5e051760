"""The generators: deterministic for a seed, the asked length, and right answers (checked
by a brute-force solver that reads the records back from the text)."""

from __future__ import annotations

import itertools

import pytest

from rlm.errors import ConfigError
from rlm.eval.scoring import score
from rlm.eval.suites import SUITES, build, oolong, pairs
from rlm.eval.suites.records import LABELS, START, Record, make_records
from rlm.eval.tasks import TaskSpec, length_label, parse_lengths, task_specs
from rlm.llm.tokens import count_tokens
from tests.eval.solver import RECORD_LINE, cue_label, label_words, solve_by_cues

SMALL = (1024, 2048)


@pytest.mark.parametrize("suite", list(SUITES))
def test_a_spec_gives_the_same_task_every_time_and_another_seed_another(suite):
    spec = TaskSpec(suite, 2048, seed=7, index=1)
    first, again = build(spec), build(spec)
    assert (first.context, first.question, first.answer) == (again.context, again.question,
                                                             again.answer)
    other = build(TaskSpec(suite, 2048, seed=8, index=1))
    assert other.context != first.context
    meta = first.meta()
    assert meta["generator"].startswith("rlm.eval.suites.") and meta["seed"] == 7
    assert meta["length"] == 2048 and meta["id"] == f"{suite}-2k-s7-1"
    assert "context" not in meta and meta["gold"] == first.answer


@pytest.mark.parametrize("suite", list(SUITES))
@pytest.mark.parametrize("length", [1024, 8192])
def test_the_context_has_the_asked_length_in_tokens(suite, length):
    task = build(TaskSpec(suite, length, 0, 0))
    assert task.tokens == count_tokens(task.context)
    assert abs(task.tokens - length) <= 0.02 * length + 40


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("length", SMALL)
def test_every_answer_is_what_a_brute_force_reading_finds(index, length):
    for suite in SUITES:
        task = build(TaskSpec(suite, length, seed=3, index=index))
        found = solve_by_cues(task.question, task.context)
        assert score(task.scoring, task.answer, found) == 1.0, (task.task_id, found)


def test_pairs_match_a_check_of_every_pair_of_records():
    task = build(TaskSpec("oolong-pairs", 1024, seed=1, index=1))  # one X, the other Y
    rows = [(int(m[1]), int(m[2]), cue_label(m[4])) for m in RECORD_LINE.finditer(task.context)]
    first, second = [w for w in LABELS if f"label {w}" in task.question.split("\n\n")[-1]]
    expected = sorted([a[0], b[0]] for a, b in itertools.combinations(rows, 2)
                      if a[1] == b[1] and {a[2], b[2]} == {first, second})
    assert task.answer == expected


def test_records_never_say_their_label():
    task = build(TaskSpec("oolong", 8192, 0, 0))
    texts = [m[4] for m in RECORD_LINE.finditer(task.context)]
    assert texts and not any(label_words().search(t) for t in texts)


def test_the_most_and_least_frequent_labels_are_unique():
    for seed in range(10):
        task = build(TaskSpec("oolong", 1024, seed, 1))
        counts = {w: solve_by_cues(f"x\n\nHow many records have the label {w}?", task.context)
                  for w in LABELS}
        ranked = sorted(int(c) for c in counts.values())
        assert ranked[-1] > ranked[-2] and ranked[0] < ranked[1]


def test_each_kind_comes_in_turn_by_index():
    kinds = [build(TaskSpec("oolong", 1024, 0, i)).kind for i in range(5)]
    assert kinds == list(oolong.KINDS)
    kinds = [build(TaskSpec("oolong-pairs", 1024, 0, i)).kind for i in range(3)]
    assert kinds == list(pairs.KINDS)


def test_no_pairs_task_has_an_empty_answer_and_the_empty_case_is_computed_right():
    for seed in range(20):
        assert build(TaskSpec("oolong-pairs", 512, seed, 0)).answer  # both of one label X
    records = [Record(1, 10, START, "Who wrote X?", "human"),
               Record(2, 11, START, "Who wrote Y?", "human")]
    assert pairs.matching_pairs(records, lambda a, b: True) == []
    rng = TaskSpec("oolong", 1024, 0, 0).rng()
    assert make_records(rng, 1)  # a tiny budget still gives one record


def test_lengths_read_like_people_write_them():
    assert parse_lengths("8k, 32K,1m,5000") == [5000, 8192, 32768, 1 << 20]
    assert [length_label(n) for n in (8192, 1 << 20, 5000)] == ["8k", "1m", "5000"]
    for bad in ("8q", "", "100"):
        with pytest.raises(ConfigError):
            parse_lengths(bad)


def test_specs_run_the_shortest_lengths_first():
    specs = task_specs(["s-niah", "oolong"], [8192, 1024], 2, seed=5)
    assert [s.length for s in specs] == [1024] * 4 + [8192] * 4
    assert {s.seed for s in specs} == {5} and specs[0].task_id == "s-niah-1k-s5-0"
