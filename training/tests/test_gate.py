from training.gate import promotion_gate


def metrics(mnist: float, heldout: float | None, per_digit: dict | None = None) -> dict:
    return {"mnist_accuracy": mnist, "heldout_accuracy": heldout, "heldout_per_class": per_digit or {}}


def test_a_candidate_as_good_on_drawings_and_within_0_2_points_on_mnist_passes():
    decision = promotion_gate(
        candidate=metrics(0.9940, 0.95, {"7": 0.9, "9": 1.0}),
        active=metrics(0.9956, 0.80, {"7": 0.5, "9": 1.0}),
        focus_digits=[7, 9],
    )
    assert decision.passed and decision.reason.startswith("Gate passed")
    assert [c["check"] for c in decision.checks] == ["MNIST test", "held-out drawings", "held-out 7s", "held-out 9s"]


def test_more_than_0_2_points_lost_on_mnist_fails_and_says_why():
    decision = promotion_gate(candidate=metrics(0.9935, 1.0), active=metrics(0.9956, 0.5), focus_digits=[7, 9])
    assert not decision.passed
    assert decision.reason == "Gate failed: MNIST test: 99.35% vs active 99.56% (at most 0.2 points lower allowed)"


def test_worse_on_one_focus_digit_fails_even_when_better_overall():
    decision = promotion_gate(
        candidate=metrics(0.996, 0.97, {"7": 1.0, "9": 0.8}),
        active=metrics(0.996, 0.90, {"7": 0.7, "9": 0.9}),
        focus_digits=[7, 9],
    )
    assert not decision.passed and "held-out 9s: 80.00% vs active 90.00%" in decision.reason
    assert "7s" not in decision.reason


def test_without_held_out_drawings_only_mnist_decides():
    decision = promotion_gate(candidate=metrics(0.99, None), active=metrics(0.99, None), focus_digits=[7])
    assert decision.passed and "no held-out drawings" in decision.reason
