"""Reads for triage: the auto-approval threshold chosen on the drawings people
decided, with the Clopper-Pearson bound on the error of what it approves,
and the figures /review/statistics/ shows.

Pure Python and the ORM: web processes import it (the statistics page), the
worker too (digits/triage.py).  The bound is one-sided: the error rate below
which the truth lies with 95% confidence, given ``errors`` of ``n``."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q

from .models import Sample, SampleReview

CONFIDENCE = 0.95
# The model's agreement alone approves only a contributor trusted this much
# (a new client id starts at 0.1): an attack spread over many fresh ids
# cannot ride on labels the model happens to agree with.
TRUST_FOR_MODEL_AGREEMENT = 0.3
# Independent support approves a label only from a contributor with some
# agreement on record (above a new id's 0.1: one confident agreement makes
# 0.18): a fresh session cookie buys nothing, not even support, and once the
# model has confidently read someone's labels as other digits, look-alikes
# from others no longer vouch for them.  (In the poisoning drill, ambiguous
# 4s labelled 9 from fresh ids got in on support before.)
TRUST_FOR_SUPPORT = 0.15
# Label-quality thresholds tried, lowest first; above 1 closes the model's path.
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 1.01)
DECIDED_WINDOW = 20_000  # the newest decisions the threshold is chosen on


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space."""
    if p <= 0:
        return 1.0
    if p >= 1:
        return 0.0 if k < n else 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total, log_term = 0.0, n * log_q  # i = 0
    for i in range(k + 1):
        if i:
            log_term += math.log(n - i + 1) - math.log(i) + log_p - log_q
        total += math.exp(log_term)
    return min(total, 1.0)


def clopper_pearson_upper(*, errors: int, n: int, confidence: float = CONFIDENCE) -> float:
    """The exact (Clopper-Pearson) one-sided upper bound on an error rate."""
    if n <= 0:
        return 1.0
    if errors >= n:
        return 1.0
    alpha = 1 - confidence
    if errors == 0:
        return 1 - alpha ** (1 / n)
    low, high = errors / n, 1.0
    for _ in range(60):  # bisection: the CDF falls as p grows
        mid = (low + high) / 2
        if _binomial_cdf(errors, n, mid) > alpha:
            low = mid
        else:
            high = mid
    return high


@dataclass(frozen=True)
class DecidedSignals:
    label_quality: float
    support: int
    trust: float
    wrong: bool  # a person rejected or relabelled it


def _people_decided():
    """Triaged drawings a person decided since (not auto-approved), newest
    first, with whether the person found the label wrong."""
    relabelled = SampleReview.objects.filter(
        sample=OuterRef("pk"), action=SampleReview.Action.RELABEL, undone_by__isnull=True
    )
    return (
        Sample.objects.filter(
            status__in=[Sample.Status.APPROVED, Sample.Status.REJECTED],
            triage__in=[Sample.Triage.NEEDS_PERSON, Sample.Triage.QUARANTINED],
            label_quality__isnull=False,
        )
        .annotate(relabelled=Exists(relabelled))
        .order_by("-id")
    )


def decided_signals(*, window: int = DECIDED_WINDOW) -> list[DecidedSignals]:
    rows = _people_decided().values_list("label_quality", "support", "trust_at_triage", "status", "relabelled")
    return [
        DecidedSignals(q, support or 0, trust or 0.0, status == Sample.Status.REJECTED or relabelled)
        for q, support, trust, status, relabelled in rows[:window]
    ]


def would_auto_approve(*, label_quality: float, support: int, trust: float, threshold: float) -> bool:
    """The one rule, for new drawings and for judging it on decided ones:
    independent support from other trusted contributors, or the model's
    agreement above ``threshold`` from a contributor trusted enough."""
    if support >= settings.TRIAGE_SUPPORT and trust >= TRUST_FOR_SUPPORT:
        return True
    return label_quality >= threshold and trust >= TRUST_FOR_MODEL_AGREEMENT


@dataclass(frozen=True)
class TriagePolicy:
    threshold: float | None  # None: nothing may be auto-approved yet
    n: int  # decided drawings the rule would have auto-approved at that threshold
    errors: int
    bound: float  # Clopper-Pearson upper bound on their error rate
    decided: int  # decided drawings it was chosen on
    target: float

    @property
    def error(self) -> float | None:
        return self.errors / self.n if self.n else None

    def describe(self) -> str:
        if self.threshold is None:
            return (
                f"no auto-approval yet: {self.decided} drawings decided by people, "
                f"best bound {self.bound:.2%} > {self.target:.2%}"
            )
        return f"threshold {self.threshold:g}: {self.errors} wrong of {self.n} (bound {self.bound:.2%})"


def triage_policy_choose(signals: list[DecidedSignals], *, target: float) -> TriagePolicy:
    """The lowest label-quality threshold whose would-be approvals among the
    decided drawings keep the bound at or below ``target``.  The support path
    counts at every threshold, so above 1 it is judged alone.

    The contributor's trust is left out of this judgement: it only narrows
    what the model's path approves, and the drawings people decided first
    came mostly from contributors not yet trusted, who would otherwise leave
    no decision to choose a threshold on."""
    best_bound = 1.0
    for threshold in THRESHOLDS:
        chosen = [
            s.wrong
            for s in signals
            if would_auto_approve(label_quality=s.label_quality, support=s.support, trust=1.0, threshold=threshold)
        ]
        n, errors = len(chosen), sum(chosen)
        bound = clopper_pearson_upper(errors=errors, n=n)
        if bound <= target:
            return TriagePolicy(threshold, n, errors, bound, len(signals), target)
        best_bound = min(best_bound, bound)
    return TriagePolicy(None, 0, 0, best_bound, len(signals), target)


def triage_policy_get() -> TriagePolicy:
    """The policy now, from the newest decisions (recomputed on every call)."""
    return triage_policy_choose(decided_signals(), target=settings.TRIAGE_MAX_ERROR_BOUND)


# --- the statistics page -------------------------------------------------------


@dataclass(frozen=True)
class TriageStatistics:
    triaged: int
    auto_approved: int
    needs_person: int
    quarantined: int
    untriaged: int
    audited: int  # audit drawings people decided
    audit_errors: int
    audit_bound: float
    policy: TriagePolicy
    auto_approve_on: bool

    def share(self, n: int) -> float | None:
        return n / self.triaged if self.triaged else None

    @property
    def auto_share(self) -> float | None:
        return self.share(self.auto_approved)

    @property
    def quarantined_share(self) -> float | None:
        return self.share(self.quarantined)


def triage_statistics_get() -> TriageStatistics:
    """Counts by outcome (one grouped count over the triaged drawings; an
    index-free scan that is fine at the sizes staff look at this page)."""
    counts = dict(Sample.objects.order_by().values_list("triage").annotate(n=Count("id")))
    audit = (
        _people_decided()
        .filter(audit=True)
        .aggregate(n=Count("id"), wrong=Count("id", filter=Q(status=Sample.Status.REJECTED) | Q(relabelled=True)))
    )
    triaged = sum(n for key, n in counts.items() if key)
    return TriageStatistics(
        triaged=triaged,
        auto_approved=counts.get(Sample.Triage.AUTO_APPROVED, 0),
        needs_person=counts.get(Sample.Triage.NEEDS_PERSON, 0),
        quarantined=counts.get(Sample.Triage.QUARANTINED, 0),
        untriaged=counts.get(Sample.Triage.UNTRIAGED, 0),
        audited=audit["n"],
        audit_errors=audit["wrong"],
        audit_bound=clopper_pearson_upper(errors=audit["wrong"], n=audit["n"]),
        policy=triage_policy_get(),
        auto_approve_on=settings.TRIAGE_AUTO_APPROVE,
    )
