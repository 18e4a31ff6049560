"""The promotion gate: a fine-tuned candidate replaces the active version only
when it forgets almost nothing of MNIST and does at least as well on the
held-out drawings, overall and on every focus digit.

Both models are measured by the same run on the same images, so the
comparison is fair even when the active version's recorded metrics came
from another test slice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class GateDecision:
    passed: bool
    reason: str
    checks: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def promotion_gate(
    *, candidate: dict, active: dict, focus_digits: list[int], mnist_tolerance: float = 0.002
) -> GateDecision:
    """Compare two metric dicts from ``classification_metrics`` (prefixes
    ``mnist`` and ``heldout``).  A check with no held-out drawings to judge
    by is recorded as such and does not block."""
    checks = []

    def check(name: str, cand: float | None, floor: float | None, margin: float = 0.0) -> None:
        if cand is None or floor is None:
            checks.append({"check": name, "passed": True, "candidate": cand, "active": floor, "note": "no data"})
            return
        passed = cand >= floor - margin - 1e-12
        checks.append({"check": name, "passed": passed, "candidate": cand, "active": floor})

    check("MNIST test", candidate["mnist_accuracy"], active["mnist_accuracy"], margin=mnist_tolerance)
    check("held-out drawings", candidate.get("heldout_accuracy"), active.get("heldout_accuracy"))
    for digit in focus_digits:
        check(
            f"held-out {digit}s",
            candidate.get("heldout_per_class", {}).get(str(digit)),
            active.get("heldout_per_class", {}).get(str(digit)),
        )

    failed = [c for c in checks if not c["passed"]]
    lines = [
        f"{c['check']}: {_pct(c['candidate'])} vs active {_pct(c['active'])}"
        + (" (no held-out drawings)" if c.get("note") else "")
        for c in (failed or checks)
    ]
    if failed:
        allowed = ""
        if failed[0]["check"] == "MNIST test":
            allowed = f" (at most {mnist_tolerance * 100:.1f} points lower allowed)"
        return GateDecision(False, "Gate failed: " + "; ".join(lines) + allowed, checks)
    return GateDecision(True, "Gate passed: " + "; ".join(lines), checks)
