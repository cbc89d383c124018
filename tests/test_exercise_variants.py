"""Every exercise's test cells accept every right answer and reject real mistakes, readably.

Fast and in-process: an exercise's cells (setup, answers, tests with their hidden parts) are taken
from its solution notebook and run with ``exec`` in one namespace, with an answer cell replaced by
a variant from the exercise's data module (tests/exercise_data/): right ways to write it, and the
mistakes people really make. Each test cell grades one property, so a mistake must fail *exactly*
the cells its table names (partial credit separates a near-miss from a crash), with an
AssertionError whose message a student can act on; and the visible tests alone, as the student
sees them, must fail the same cells (every graded property has a visible test).
"""

from __future__ import annotations

import pytest
from exercise_data import exercises

# the "same padding" mistake makes torch warn; the test is about the verdict, not the warning
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

EXERCISES = {e.assignment: e for e in exercises()}
CASES = [(a, answer, name) for a, e in EXERCISES.items() for answer, name in e.variants()]
MISTAKES = [case for case in CASES
            if EXERCISES[case[0]].data.VARIANTS[case[1]][case[2]][0] is not None]


def check(results: dict[str, BaseException | None], must_fail: frozenset[str] | None) -> None:
    failures = {k: v for k, v in results.items() if v is not None}
    if must_fail is None:
        assert not failures, f"a correct variant was rejected: {failures}"
        return
    assert set(failures) == set(must_fail), (
        f"expected exactly {sorted(must_fail)} to reject the variant; failures: "
        f"{ {k: str(v)[:200] for k, v in failures.items()} }")
    for grade_id, error in failures.items():
        message = str(error)
        assert isinstance(error, AssertionError), (
            f"{grade_id} failed with {type(error).__name__}, not a readable AssertionError: "
            f"{message}")
        assert len(message) > 40 and "\n" not in message.strip(), (
            f"{grade_id}: message not readable enough: {message!r}")


@pytest.mark.parametrize("assignment, answer, name", CASES)
def test_variant(assignment: str, answer: str, name: str) -> None:
    exercise = EXERCISES[assignment]
    must_fail, answers = exercise.variant(answer, name)
    check(exercise.run_cells(answers, exercise.tests[answer]), must_fail)


@pytest.mark.parametrize("assignment, answer, name", MISTAKES)
def test_the_visible_tests_already_reveal_each_mistake(assignment: str, answer: str,
                                                       name: str) -> None:
    """Every property a hidden test grades has a visible test that tells the student: in the
    released notebook each mistake fails every cell it fails when graded."""
    exercise = EXERCISES[assignment]
    must_fail, answers = exercise.variant(answer, name)
    results = exercise.run_cells(answers, exercise.tests[answer], visible_only=True)
    failures = {k for k, v in results.items() if v is not None}
    assert failures == set(must_fail), (
        f"graded, {name} fails {sorted(must_fail)}; the visible tests show {sorted(failures)}")


@pytest.mark.parametrize("assignment, name", [(a, n) for a, e in EXERCISES.items()
                                              for n in e.data.ISOLATION])
def test_a_broken_earlier_answer_costs_nothing_twice(assignment: str, name: str) -> None:
    exercise = EXERCISES[assignment]
    broken, tested = exercise.data.ISOLATION[name]
    answers = {gid: exercise.with_bodies(gid, *bodies) for gid, bodies in broken.items()}
    check(exercise.run_cells(answers, exercise.tests[tested]), None)


@pytest.mark.parametrize("assignment", list(EXERCISES))
def test_every_answer_has_right_and_wrong_variants(assignment: str) -> None:
    exercise = EXERCISES[assignment]
    for answer in exercise.answers:
        table = exercise.data.VARIANTS.get(answer, {})
        assert any(v[0] is None for v in table.values()), f"no right variant of {answer}"
        assert any(v[0] is not None for v in table.values()), f"no mistake for {answer}"
        failed = {g for v in table.values() if v[0] for g in exercise.fails(answer, v[0])}
        assert failed == set(exercise.tests[answer]), (
            f"test cells of {answer} that no mistake fails: "
            f"{sorted(set(exercise.tests[answer]) - failed)}")


@pytest.mark.parametrize("assignment", list(EXERCISES))
def test_blank_answers_fail_every_test_cell_readably(assignment: str) -> None:
    """The released stubs (raise NotImplementedError) fail each test cell with a message."""
    exercise = EXERCISES[assignment]
    stub = "raise NotImplementedError()"
    answers = {gid: exercise.with_bodies(gid, *[stub] * exercise.cells[gid].count(
        "### BEGIN SOLUTION")) for gid in exercise.answers}
    tests = [g for gid in exercise.answers for g in exercise.tests[gid]]
    for grade_id, error in exercise.run_cells(answers, tests).items():
        assert isinstance(error, AssertionError) and "NotImplementedError" in str(error), (
            grade_id, error)
