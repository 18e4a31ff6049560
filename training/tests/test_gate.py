import numpy as np
import pytest

from training.evaluation import Judgement
from training.gate import gate_judgements, holm_adjusted, mcnemar_worse_p, promotion_gate

RNG = np.random.default_rng(0)
Y_VAL = RNG.integers(0, 10, 5000)
Y_TEST = RNG.integers(0, 10, 10000)


def answers(y: np.ndarray, wrong: int, offset: int = 0) -> np.ndarray:
    """Predicted digits for ``y``, wrong on ``wrong`` images starting at ``offset``."""
    pred = y.copy()
    pred[offset : offset + wrong] = (y[offset : offset + wrong] + 1) % 10
    return pred


def one_hot(pred: np.ndarray) -> np.ndarray:
    return np.eye(10, dtype=np.float32)[pred] * 0.9 + 0.01


HELD = np.array([7, 9])


def gate(cand_val, par_val, y_held=HELD, cand_held=None, par_held=None, focus=(7, 9), best=None):
    return promotion_gate(
        y_validation=Y_VAL,
        candidate_validation=cand_val,
        parent_validation=par_val,
        y_heldout=y_held,
        candidate_heldout=y_held if cand_held is None else cand_held,
        parent_heldout=y_held if par_held is None else par_held,
        focus_digits=list(focus),
        lineage_best_validation=best,
    )


def test_mcnemar_is_the_exact_binomial_tail():
    assert mcnemar_worse_p(lost=0, gained=0) == 1.0
    assert mcnemar_worse_p(lost=3, gained=0) == 0.125  # 1/8
    assert abs(mcnemar_worse_p(lost=10, gained=2) - 0.0193) < 1e-3
    assert mcnemar_worse_p(lost=2, gained=10) > 0.99


def test_a_candidate_better_on_test_but_worse_on_validation_is_refused():
    parent = Judgement(
        validation=one_hot(answers(Y_VAL, 20)), test=one_hot(answers(Y_TEST, 60)), heldout=np.array([7, 9])
    )
    # 40 more validation images wrong (significantly worse), but 50 fewer test images wrong.
    candidate = Judgement(
        validation=one_hot(answers(Y_VAL, 60)), test=one_hot(answers(Y_TEST, 10)), heldout=np.array([7, 9])
    )
    kwargs = dict(y_validation=Y_VAL, y_test=Y_TEST, y_heldout=np.array([7, 9]), focus_digits=[7, 9])
    judged_with = dict(lineage_best_validation=None, lineage_tolerance=0.0015, per_class_floor=0.005)
    decision = gate_judgements(candidate, parent, **kwargs, **judged_with)
    assert not decision.passed
    assert decision.reason.startswith("Gate failed: MNIST validation (paired): 98.80% vs 99.60% (40 lost, 0 gained")
    # The same two models the other way round: better on validation, worse on test, promoted.
    decision = gate_judgements(parent, candidate, **kwargs, **judged_with)
    assert decision.passed


def test_a_few_images_lost_within_noise_pass_but_many_do_not():
    parent = answers(Y_VAL, 20)
    noise = answers(Y_VAL, 22, offset=2)  # 4 lost, 2 gained: noise
    assert gate(noise, parent).passed
    worse = answers(Y_VAL, 32)  # 12 lost, 0 gained
    decision = gate(worse, parent)
    assert not decision.passed and "12 lost, 0 gained of 5000" in decision.reason


def test_the_lineage_floor_stops_a_slow_drift_down():
    parent = answers(Y_VAL, 30)  # 99.40%
    same = answers(Y_VAL, 30)
    assert gate(same, parent, best=0.9950).passed  # 0.10 points under the best: allowed
    decision = gate(same, parent, best=0.9960)  # 0.20 points under the best of the lineage
    assert not decision.passed
    assert "lineage floor: 99.40% vs best validation accuracy in the lineage 99.60%" in decision.reason


def test_worse_on_one_focus_digit_fails_even_when_better_overall():
    y_held = np.array([7] * 10 + [9] * 10)
    parent = np.array([1] * 5 + [7] * 5 + [9] * 10)  # 7s 50%, 9s 100%
    candidate = np.array([7] * 10 + [4] + [9] * 9)  # 7s 100%, 9s 90%
    decision = gate(Y_VAL, Y_VAL, y_held, candidate, parent)
    assert not decision.passed and "held-out 9s: 90.00% vs 100.00%" in decision.reason
    assert "7s" not in decision.reason


def test_a_focus_digit_without_held_out_drawings_is_said_to_be_not_judged():
    decision = gate(Y_VAL, Y_VAL, np.array([7, 7, 1]), focus=(7, 9))
    assert decision.passed
    assert "held-out 9s: no held-out drawings, not judged" in decision.reason
    assert decision.unjudged_focus_digits == [9]


def misreads_of(digit: int, count: int, *, skip: int = 0) -> np.ndarray:
    """Indices of ``count`` validation images of ``digit`` (after ``skip`` of them)."""
    return np.flatnonzero(Y_VAL == digit)[skip : skip + count]


def test_a_candidate_that_loses_a_point_on_one_digit_is_refused_though_it_passes_overall():
    parent = answers(Y_VAL, 40)  # 40 wrong, of every digit
    candidate = parent.copy()
    sevens = misreads_of(7, 6, skip=10)  # 6 of about 500 sevens: 1.2 points on that digit
    candidate[sevens] = 1
    candidate[:6] = Y_VAL[:6]  # and 6 other images gained: overall, nothing lost
    decision = gate(candidate, parent)
    overall = next(c for c in decision.checks if c["check"] == "MNIST validation (paired)")
    assert overall["passed"]  # what the gate judged before: it promoted this candidate
    assert not decision.passed
    failed = [c for c in decision.checks if not c["passed"]]
    assert [c["check"] for c in failed] == ["MNIST validation, 7s"] and failed[0]["digit"] == 7
    assert failed[0]["lost"] == sevens.tolist()  # the images the refusal shows
    assert decision.reason.startswith("Gate failed: MNIST validation, 7s: ")
    assert "6 lost, 0 gained of" in decision.reason and "more than 0.5 point below the parent" in decision.reason
    # Half a point or less on a digit, within the floor: promoted.
    candidate[sevens[2:]] = 7
    assert gate(candidate, parent).passed


def test_the_per_digit_test_corrects_for_ten_digits():
    parent = answers(Y_VAL, 40)
    candidate = parent.copy()
    others = np.flatnonzero(Y_VAL[:40] != 3)[:12]
    candidate[others] = Y_VAL[others]  # gained elsewhere: overall, nothing lost
    candidate[misreads_of(3, 5, skip=40)] = 8  # p = 1/32 for one digit, 0.31 once ten are judged
    loose = dict(y_validation=Y_VAL, y_heldout=HELD, candidate_heldout=HELD, parent_heldout=HELD, focus_digits=[])
    floor_off = dict(loose, parent_validation=parent, per_class_floor=0.999)
    assert promotion_gate(candidate_validation=candidate, **floor_off).passed
    candidate[misreads_of(3, 12, skip=40)] = 8  # p = 1/4096, 0.0024 after Holm
    decision = promotion_gate(candidate_validation=candidate, **floor_off)
    assert not decision.passed and "MNIST validation, 3s" in decision.reason
    assert "12 lost, 0 gained of" in decision.reason and "McNemar p = 0.00244 after Holm" in decision.reason


def test_holm_adjusts_in_steps_and_keeps_the_order():
    assert holm_adjusted([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm_adjusted([0.5, 0.9]) == [1.0, 1.0]
