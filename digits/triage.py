"""Triage of stored drawings, in the worker, on the served version: each gets
auto-approved, needs a person, or quarantined, with the reason.

Signals, for a batch of untriaged pending drawings:

- the served version's calibrated probabilities (a new drawing is out of
  sample for it);
- independent support: among the nearest approved drawings in the model's
  own embedding (the layer before the output), how many distinct *other*
  contributors, trusted or decided by a person, gave the same label;
- cleanlab's label-quality score (self-confidence) on the model's
  probabilities blended with those neighbours' labels;
- the contributor's trust (digits.services.contributors_trust_refresh).

The rule (digits.triage_policy.would_auto_approve) and its threshold, chosen
on the drawings people decided so that the Clopper-Pearson bound holds, say
what is auto-approved; a random audit share of those goes to people anyway.
A label the model confidently reads as another digit, with no support, from
a contributor not yet trusted, is quarantined.  Writes go through
digits.services.  cleanlab loads here only, in the worker's pool child."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db.models import Q

from models.calibration import calibrate
from models.serving import NoModelError, ServedModel, model_server

from .models import Contributor, Sample
from .preprocessing import pixels_decode_many
from .services import (
    CONFIDENT,
    TRUST_PRIOR_AGREED,
    TRUST_PRIOR_JUDGED,
    TriageOutcome,
    contributors_trust_refresh,
    triage_outcomes_apply,
)
from .triage_policy import (
    TRUST_FOR_MODEL_AGREEMENT,
    TRUST_FOR_SUPPORT,
    TriagePolicy,
    triage_policy_get,
    would_auto_approve,
)

log = logging.getLogger(__name__)

EMBEDDING_LAYER = "dense"  # the layer before the output (training/network.py)
NEIGHBOURS = 10
REFERENCE_CAP = 20_000  # the newest approved drawings compared against
TRUSTED = 0.5  # a contributor whose approved drawings count as support
NEIGHBOUR_WEIGHT = 0.5  # of the neighbours' labels in the probabilities cleanlab scores
QUARANTINE_BELOW = 0.05  # the model's calibrated probability of the label


@dataclass
class _Reference:
    """Embeddings of approved drawings for one served version, kept across
    batches in this process: only drawings approved since are embedded."""

    version_id: int | None = None
    vectors: dict[int, np.ndarray] = field(default_factory=dict)


_reference = _Reference()


def _embed(served: ServedModel, pixels: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities and unit-length embeddings."""
    x = pixels_decode_many(pixels)
    probabilities, features = served.predictor.predict_batch_features(x, layer=EMBEDDING_LAYER)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return calibrate(probabilities, served.temperature), features / np.maximum(norms, 1e-6)


def _reference_get(served: ServedModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The newest approved drawings, and the pending ones of trusted
    contributors (this batch's too): embeddings, labels, whether their label
    counts as support (a person decided it, or a trusted contributor gave
    it), and client ids.

    Pending drawings of trusted people count because a new style is never
    approved otherwise: the model disagrees with every drawing of it, and
    only people who agree with each other, independently, can vouch for it
    (the drill's slashed zeros all went to people when only approved
    drawings could support them)."""
    if _reference.version_id != served.version_id:
        _reference.version_id, _reference.vectors = served.version_id, {}
    trusted_ids = Contributor.objects.filter(trust__gte=TRUSTED, quarantined=False).values("client_id")
    pending_trusted = Q(status=Sample.Status.PENDING, client_id__in=trusted_ids) & ~Q(triage=Sample.Triage.QUARANTINED)
    rows = list(
        Sample.objects.filter(Q(status=Sample.Status.APPROVED) | pending_trusted)
        .order_by("-id")
        .values_list("id", "label", "client_id", "triage", "status")[:REFERENCE_CAP]
    )
    missing = [row[0] for row in rows if row[0] not in _reference.vectors]
    for start in range(0, len(missing), 5000):
        chunk = dict(Sample.objects.filter(id__in=missing[start : start + 5000]).values_list("id", "pixels"))
        ids = list(chunk)
        if ids:
            _, vectors = _embed(served, [bytes(chunk[i]) for i in ids])
            _reference.vectors.update(zip(ids, vectors, strict=True))
    if not rows:
        return np.empty((0, 1), np.float32), np.empty(0, int), np.empty(0, bool), []
    trust = dict(Contributor.objects.filter(trust__gte=TRUSTED, quarantined=False).values_list("client_id", "trust"))
    vectors = np.stack([_reference.vectors[row[0]] for row in rows])
    labels = np.array([row[1] for row in rows])
    # Approved by a person (or before the triage existed: triage "") or from a trusted contributor.
    person = (Sample.Triage.UNTRIAGED, Sample.Triage.NEEDS_PERSON, Sample.Triage.QUARANTINED)
    counts = np.array([row[2] in trust or (row[3] in person and row[4] == Sample.Status.APPROVED) for row in rows])
    return vectors, labels, counts, [row[2] for row in rows]


def _support(
    vectors: np.ndarray, labels: np.ndarray, client_ids: list[str], reference
) -> tuple[np.ndarray, np.ndarray]:
    """For each drawing: distinct other supporting contributors among its
    nearest neighbours with its label, and the neighbours' label shares."""
    ref_vectors, ref_labels, ref_counts, ref_clients = reference
    support = np.zeros(len(labels), int)
    shares = np.full((len(labels), 10), 0.1)  # no neighbours: _label_quality leaves them out
    if not len(ref_labels):
        return support, shares
    similarity = vectors @ ref_vectors.T
    k = min(NEIGHBOURS + 5, len(ref_labels))  # a few spare: the contributor's own are skipped
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    for i, row in enumerate(nearest):
        row = row[np.argsort(-similarity[i, row])]
        others = [j for j in row if ref_clients[j] != client_ids[i]][:NEIGHBOURS]
        if not others:
            continue
        shares[i] = np.bincount(ref_labels[others], minlength=10)[:10] / len(others)
        agreeing = {ref_clients[j] for j in others if ref_labels[j] == labels[i] and ref_counts[j]}
        # Support only when most neighbours agree: one trusted look-alike among
        # many of another digit says little.
        support[i] = len(agreeing) if shares[i][labels[i]] > 0.5 else 0
    return support, shares


def _label_quality(labels: np.ndarray, probabilities: np.ndarray, shares: np.ndarray) -> np.ndarray:
    from cleanlab.rank import get_label_quality_scores

    # Without neighbours (no approved drawing yet) the model's probabilities
    # stand alone, so a score means the same before and after there are some.
    has_neighbours = ~np.all(np.isclose(shares, 0.1), axis=1, keepdims=True)
    blended = np.where(
        has_neighbours, (1 - NEIGHBOUR_WEIGHT) * probabilities + NEIGHBOUR_WEIGHT * shares, probabilities
    )
    blended /= blended.sum(axis=1, keepdims=True)
    return np.asarray(get_label_quality_scores(labels, blended, method="self_confidence"), float)


def _decide(
    *, label: int, quality: float, probability: float, predicted: int, support: int, trust: float,
    quarantined: bool, policy: TriagePolicy, rng: random.Random,
) -> tuple[str, str, bool]:  # fmt: skip
    """(outcome, reason, audit) for one drawing."""
    said = f"label {label}, model {predicted} ({probability:.0%} for {label}), quality {quality:.3f}, "
    said += f"support {support}, trust {trust:.2f}"
    if quarantined:
        return Sample.Triage.QUARANTINED, f"contributor quarantined; {said}", False
    approve = (
        settings.TRIAGE_AUTO_APPROVE
        and policy.threshold is not None
        and would_auto_approve(label_quality=quality, support=support, trust=trust, threshold=policy.threshold)
    )
    if approve:
        why = (
            "independent support"
            if support >= settings.TRIAGE_SUPPORT and trust >= TRUST_FOR_SUPPORT
            else "model agrees"
        )
        if rng.random() < settings.TRIAGE_AUDIT_SHARE:
            return Sample.Triage.NEEDS_PERSON, f"audit (would be auto-approved: {why}); {said}", True
        return Sample.Triage.AUTO_APPROVED, f"{why}; {said}", False
    if probability <= QUARANTINE_BELOW and support < settings.TRIAGE_SUPPORT and trust < TRUST_FOR_MODEL_AGREEMENT:
        return Sample.Triage.QUARANTINED, f"model reads another digit, no support, new contributor; {said}", False
    if not settings.TRIAGE_AUTO_APPROVE:
        return Sample.Triage.NEEDS_PERSON, f"auto-approval is off; {said}", False
    if policy.threshold is None:
        return Sample.Triage.NEEDS_PERSON, f"{policy.describe()}; {said}", False
    if trust < TRUST_FOR_MODEL_AGREEMENT and quality >= policy.threshold:
        return Sample.Triage.NEEDS_PERSON, f"model agrees but trust below {TRUST_FOR_MODEL_AGREEMENT}; {said}", False
    return Sample.Triage.NEEDS_PERSON, f"below threshold {policy.threshold:g}, too little support; {said}", False


def triage_batch(*, limit: int | None = None, rng: random.Random | None = None) -> int:
    """Triage up to ``limit`` of the oldest untriaged pending drawings;
    returns how many were triaged (0 with no model served)."""
    limit = limit or settings.TRIAGE_BATCH
    rng = rng or random.Random()
    try:
        served = model_server().get()
    except NoModelError:
        return 0
    rows = list(
        Sample.objects.filter(Q(status=Sample.Status.PENDING) & Q(triage=Sample.Triage.UNTRIAGED))
        .order_by("id")
        .values_list("id", "pixels", "label", "client_id")[:limit]
    )
    if not rows:
        return 0
    ids, pixels, labels, client_ids = zip(*rows, strict=True)
    labels = np.array(labels)
    probabilities, vectors = _embed(served, [bytes(p) for p in pixels])
    support, shares = _support(vectors, labels, list(client_ids), _reference_get(served))
    quality = _label_quality(labels, probabilities, shares)
    policy = triage_policy_get()

    distinct = sorted(set(client_ids))
    contributors_trust_refresh(client_ids=distinct)
    quarantined = set(
        Contributor.objects.filter(client_id__in=distinct, quarantined=True).values_list("client_id", flat=True)
    )
    # Trust grows within the batch too, drawing by drawing, as it would had
    # they come one at a time: a confident reading counts as it is made.
    # These drawings are not in the refreshed counts yet (untriaged).
    tallies = {c: [0.0, 0.0] for c in distinct}
    for c, agreed, judged in Contributor.objects.filter(client_id__in=distinct).values_list(
        "client_id", "agreed", "judged"
    ):
        tallies[c] = [agreed, judged]
    outcomes = []
    for i, sample_id in enumerate(ids):
        client = client_ids[i]
        agreed, judged = tallies[client]
        current = (agreed + TRUST_PRIOR_AGREED) / (judged + TRUST_PRIOR_JUDGED)
        label, p = int(labels[i]), float(probabilities[i][labels[i]])
        outcome, reason, audit = _decide(
            label=label,
            quality=float(quality[i]),
            probability=p,
            predicted=int(np.argmax(probabilities[i])),
            support=int(support[i]),
            trust=current,
            quarantined=client in quarantined,
            policy=policy,
            rng=rng,
        )
        outcomes.append(
            TriageOutcome(sample_id, outcome, reason, float(quality[i]), p, int(support[i]), current, audit)
        )
        if p >= CONFIDENT or p <= 1 - CONFIDENT:
            tallies[client] = [agreed + (p >= CONFIDENT), judged + 1.0]
    applied = triage_outcomes_apply(outcomes=outcomes)
    contributors_trust_refresh(client_ids=distinct)
    log.info("Triaged %s drawings (%s)", applied, policy.describe())
    return applied
