"""The scorers against hand-made cases."""

from __future__ import annotations

import pytest

from rlm.eval.scoring import exact, normalize, numeric, pairs_f1, parse_pairs, score


@pytest.mark.parametrize("answer", ["4817263", " 4817263.", 'Final Answer: "4817263"',
                                    "answer: `4817263`", "**4817263**"])
def test_exact_forgives_form(answer):
    assert exact("4817263", answer) == 1.0


@pytest.mark.parametrize("answer", ["4817264", "The number is 4817263", "4817263 or 1234567",
                                    ""])
def test_exact_is_not_a_substring_match(answer):
    assert exact("4817263", answer) == 0.0


def test_exact_ignores_case_and_spacing_of_labels():
    assert exact("more common", "More  Common.") == 1.0
    assert normalize("Answer: Location") == "location"


@pytest.mark.parametrize(("gold", "answer", "expected"), [
    (17, "17", 1.0), (17, "16", 0.75), (17, "19", 0.75 ** 2), (17, "27", 0.75 ** 10),
    (17, "There are 15 such records.", 0.75 ** 2), (1200, "1,200", 1.0), (3, "none", 0.0),
    (0, "0", 1.0),
])
def test_numeric_is_three_quarters_to_the_error(gold, answer, expected):
    assert numeric(gold, answer) == pytest.approx(expected)


def test_pairs_are_read_in_any_common_form_and_unordered():
    assert parse_pairs("(3, 12), (9, 5)") == {(3, 12), (5, 9)}
    assert parse_pairs("[[3, 12], [5, 9]]") == {(3, 12), (5, 9)}
    assert parse_pairs("3-12 and 5 & 9") == {(3, 12), (5, 9)}
    assert parse_pairs("none") == set() == parse_pairs("")


@pytest.mark.parametrize(("gold", "predicted", "expected"), [
    ([], set(), 1.0),                              # nothing to find, nothing found
    ([], {(1, 2)}, 0.0),                           # found pairs that are not there
    ([[1, 2]], set(), 0.0),                        # missed everything
    ([[1, 2], [3, 4]], {(1, 2), (3, 4)}, 1.0),
    ([[1, 2], [3, 4]], {(1, 2)}, 2 * 1.0 * 0.5 / 1.5),          # precision 1, recall 1/2
    ([[1, 2]], {(1, 2), (5, 6), (7, 8)}, 2 * (1 / 3) * 1 / (1 / 3 + 1)),
    ([[2, 1]], {(1, 2)}, 1.0),                     # order within a pair does not matter
])
def test_pairs_f1(gold, predicted, expected):
    assert pairs_f1(gold, predicted) == pytest.approx(expected)


def test_score_dispatches_on_the_task_scoring():
    assert score("exact", "human", "Human") == 1.0
    assert score("numeric", 4, "5") == 0.75
    assert score("pairs", [[1, 2]], "(2, 1)") == 1.0
    with pytest.raises(ValueError):
        score("fuzzy", "a", "a")
