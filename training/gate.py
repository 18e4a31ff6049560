"""The promotion gate: a candidate replaces its parent only when

- it is not significantly worse than the parent on the MNIST validation
  split, judged pairwise on the same images (McNemar's exact test: of the
  images exactly one of the two gets right, does the candidate lose
  significantly more than it gains?);
- its validation accuracy stays within a small tolerance of the best any
  version of its lineage reached, so accuracy cannot drift down a little with
  every promotion;
- no digit pays for it on the validation split: per digit, the same exact
  McNemar test (one-sided, Holm's correction over the ten), and a floor,
  ``GATE_PER_CLASS_FLOOR`` below the parent's accuracy on that digit (about
  500 images a digit: a test alone would let a digit lose 2 points, since 10
  lost and none gained is p = 0.001 before the correction and 0.01 after);
- it is at least as accurate on the held-out drawings, overall and on each
  focus digit.  A focus digit with no held-out drawings cannot be judged, and
  the reason says so.

The MNIST test set never decides: it is recorded beside the decision only.
Both models are measured by the same run on the same images
(``training.evaluation.judge``); ``gate_judgements`` takes the two judgements.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import comb

import numpy as np

from .evaluation import Judgement

SIGNIFICANCE = 0.05
PER_CLASS_CHECK = "MNIST validation, {digit}s"


@dataclass
class GateDecision:
    passed: bool
    reason: str
    checks: list[dict] = field(default_factory=list)
    unjudged_focus_digits: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def mcnemar_worse_p(*, lost: int, gained: int) -> float:
    """One-sided exact McNemar p-value that the candidate is worse: the
    chance of losing at least ``lost`` of ``lost + gained`` discordant images
    if either model were as likely to be the one that is right."""
    n = lost + gained
    if n == 0:
        return 1.0
    return float(sum(comb(n, k) for k in range(lost, n + 1)) / 2**n)


def holm_adjusted(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given): a digit is
    significantly worse when its adjusted p is below SIGNIFICANCE, and the
    chance that any of the ten is flagged by luck stays below it."""
    m = len(p_values)
    adjusted, running = [1.0] * m, 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def per_class_checks(*, y: np.ndarray, cand_ok: np.ndarray, par_ok: np.ndarray, floor: float) -> list[dict]:
    """One check a digit present in ``y``: refused when its Holm-adjusted
    McNemar p is below SIGNIFICANCE or its accuracy falls more than ``floor``
    below the parent's.  ``lost`` lists the validation indices of that digit
    the candidate newly misreads (the refusal shows them)."""
    digits = [int(d) for d in range(10) if (y == d).any()]
    counts = []
    for digit in digits:
        mask = y == digit
        lost = np.flatnonzero(mask & par_ok & ~cand_ok)
        gained = int((mask & ~par_ok & cand_ok).sum())
        counts.append((mask, lost, gained))
    adjusted = holm_adjusted([mcnemar_worse_p(lost=len(lost), gained=gained) for _, lost, gained in counts])
    checks = []
    for digit, (mask, lost, gained), p in zip(digits, counts, adjusted, strict=True):
        cand, par = float(cand_ok[mask].mean()), float(par_ok[mask].mean())
        below_floor = cand < par - floor - 1e-12
        checks.append(
            {
                "check": PER_CLASS_CHECK.format(digit=digit),
                "digit": digit,
                "passed": p >= SIGNIFICANCE and not below_floor,
                "candidate": cand,
                "active": par,
                "lost": [int(i) for i in lost],
                "detail": f"{len(lost)} lost, {gained} gained of {int(mask.sum())}; McNemar p = {p:.3g} after Holm"
                + (f"; more than {floor * 100:.2g} point below the parent" if below_floor else ""),
            }
        )
    return checks


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def promotion_gate(
    *,
    y_validation: np.ndarray,
    candidate_validation: np.ndarray,
    parent_validation: np.ndarray,
    y_heldout: np.ndarray,
    candidate_heldout: np.ndarray,
    parent_heldout: np.ndarray,
    focus_digits: list[int],
    lineage_best_validation: float | None = None,
    lineage_tolerance: float = 0.0015,
    per_class_floor: float = 0.005,
) -> GateDecision:
    """Decide from predicted digits (arrays of labels, paired image by image)."""
    y_validation, y_heldout = np.asarray(y_validation), np.asarray(y_heldout)
    cand_ok = np.asarray(candidate_validation) == y_validation
    par_ok = np.asarray(parent_validation) == y_validation
    lost, gained = int((par_ok & ~cand_ok).sum()), int((~par_ok & cand_ok).sum())
    p = mcnemar_worse_p(lost=lost, gained=gained)
    cand_val, par_val = float(cand_ok.mean()), float(par_ok.mean())
    checks = [
        {
            "check": "MNIST validation (paired)",
            "passed": p >= SIGNIFICANCE,
            "candidate": cand_val,
            "active": par_val,
            "detail": f"{lost} lost, {gained} gained of {len(y_validation)}; McNemar p = {p:.3g}",
        }
    ]
    checks += per_class_checks(y=y_validation, cand_ok=cand_ok, par_ok=par_ok, floor=per_class_floor)
    if lineage_best_validation is not None:
        floor = lineage_best_validation - lineage_tolerance
        checks.append(
            {
                "check": "lineage floor",
                "passed": cand_val >= floor - 1e-12,
                "candidate": cand_val,
                "active": lineage_best_validation,
                "detail": f"best validation accuracy in the lineage {_pct(lineage_best_validation)}, "
                f"at most {lineage_tolerance * 100:.2f} points below allowed",
            }
        )

    def heldout_check(name: str, mask: np.ndarray) -> None:
        if not mask.any():
            checks.append({"check": name, "passed": True, "candidate": None, "active": None, "detail": "none"})
            return
        cand = float((np.asarray(candidate_heldout)[mask] == y_heldout[mask]).mean())
        par = float((np.asarray(parent_heldout)[mask] == y_heldout[mask]).mean())
        checks.append(
            {"check": name, "passed": cand >= par - 1e-12, "candidate": cand, "active": par, "detail": f"{mask.sum()}"}
        )

    heldout_check("held-out drawings", np.ones(len(y_heldout), bool))
    unjudged = []
    for digit in focus_digits:
        heldout_check(f"held-out {digit}s", y_heldout == digit)
        if not (y_heldout == digit).any():
            unjudged.append(digit)

    failed = [c for c in checks if not c["passed"]]

    def line(c: dict) -> str:
        if c["candidate"] is None:
            return f"{c['check']}: no held-out drawings, not judged"
        text = f"{c['check']}: {_pct(c['candidate'])} vs {_pct(c['active'])}"
        if c["check"] == "MNIST validation (paired)" or "digit" in c:
            text += f" ({c['detail']})"
        elif c["check"] == "lineage floor":
            text = f"lineage floor: {_pct(c['candidate'])} vs {c['detail']}"
        return text

    # A pass names the overall checks only; the ten digits are in ``checks``.
    shown = failed or [c for c in checks if "digit" not in c]
    notes = [line(c) for c in checks if c["candidate"] is None and c not in shown]
    reason = ("Gate failed: " if failed else "Gate passed: ") + "; ".join([line(c) for c in shown] + notes)
    return GateDecision(not failed, reason, checks, unjudged)


def gate_judgements(
    candidate: Judgement,
    parent: Judgement,
    *,
    y_validation: np.ndarray,
    y_test: np.ndarray,
    y_heldout: np.ndarray,
    focus_digits: list[int],
    lineage_best_validation: float | None,
    lineage_tolerance: float,
    per_class_floor: float,
) -> GateDecision:
    """The gate on two judgements: validation and held-out drawings decide;
    ``y_test`` is taken only to make plain that the test set is not used."""
    del y_test  # reported in the metrics, never a reason to promote
    return promotion_gate(
        y_validation=y_validation,
        candidate_validation=candidate.validation.argmax(axis=1),
        parent_validation=parent.validation.argmax(axis=1),
        y_heldout=y_heldout,
        candidate_heldout=candidate.heldout,
        parent_heldout=parent.heldout,
        focus_digits=focus_digits,
        lineage_best_validation=lineage_best_validation,
        lineage_tolerance=lineage_tolerance,
        per_class_floor=per_class_floor,
    )
