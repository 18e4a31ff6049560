import numpy as np
from django.conf import settings
from django.db import models
from django.db.models import ExpressionWrapper, F, Q

from .preprocessing import pixels_decode

PENDING = Q(status="pending")


class Triage(models.TextChoices):
    UNTRIAGED = "", "Not triaged yet"
    AUTO_APPROVED = "auto_approved", "Auto-approved"
    NEEDS_PERSON = "needs_person", "Needs a person"
    QUARANTINED = "quarantined", "Quarantined"


class Sample(models.Model):
    Triage = Triage

    class LabelSource(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed prediction"
        CORRECTED = "corrected", "Corrected prediction"
        PROMPTED = "prompted", "Drawn on request"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    image = models.FileField(upload_to="samples/%Y/%m/%d/", max_length=255)  # the drawing as sent
    image_sha256 = models.CharField(max_length=64)
    pixels = models.BinaryField()  # 784 bytes: the 28x28 uint8 input the model saw
    label = models.PositiveSmallIntegerField()
    label_source = models.CharField(max_length=16, choices=LabelSource.choices)
    predicted = models.PositiveSmallIntegerField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    probabilities = models.JSONField(default=list, blank=True)
    model_version = models.ForeignKey(
        "models.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="samples"
    )
    client_id = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # The one definition of "the prediction disagrees with the label": a
    # column the database computes and stores, so the queue and the filters
    # can index it (drawings stored without a prediction never disagree).
    disagrees = models.GeneratedField(
        expression=ExpressionWrapper(
            Q(predicted__isnull=False) & ~Q(predicted=F("label")), output_field=models.BooleanField()
        ),
        output_field=models.BooleanField(),
        db_persist=True,
    )
    # How far the model's top probability was ahead of the second: small
    # means it hesitated (a review order by uncertainty reads an index on it).
    margin = models.FloatField(null=True, blank=True)

    # Triage (digits/triage.py), decided in the worker on the served version
    # right after the drawing is stored: what happened to it and why, and the
    # signals it was decided on, kept so thresholds can be chosen again on the
    # drawings people decided (digits/triage_policy.py).
    triage = models.CharField(max_length=16, choices=Triage.choices, default=Triage.UNTRIAGED, blank=True)
    triage_reason = models.CharField(max_length=200, blank=True)
    triaged_at = models.DateTimeField(null=True, blank=True)
    audit = models.BooleanField(default=False)  # would have been auto-approved; drawn for people to check
    label_quality = models.FloatField(null=True, blank=True)  # cleanlab's score of the label, 0..1
    label_probability = models.FloatField(null=True, blank=True)  # the served version's, calibrated
    support = models.PositiveSmallIntegerField(null=True, blank=True)  # other trusted contributors agreeing
    trust_at_triage = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The review queue reads only pending drawings, in each of its
            # orders; these stay as small as the queue, whatever the table holds.
            models.Index(fields=["id"], condition=PENDING, name="sample_queue_oldest"),
            models.Index(fields=["-disagrees", "id"], condition=PENDING, name="sample_queue_disagreeing"),
            models.Index(fields=["margin", "id"], condition=PENDING, name="sample_queue_uncertain"),
            # The admin's filters, so a filtered list finds its rows (and its
            # bounded count) without a scan; status and model version have theirs.
            models.Index(fields=["label"], name="sample_label"),
            models.Index(fields=["predicted"], name="sample_predicted"),
            models.Index(fields=["-created_at"], condition=Q(disagrees=True), name="sample_disagreeing_newest"),
            # The triage worker reads the drawings it has not triaged yet.
            models.Index(fields=["id"], condition=PENDING & Q(triage=""), name="sample_untriaged"),
        ]
        constraints = [
            # A double click or a retry of the same drawing is one sample.
            models.UniqueConstraint(fields=["client_id", "image_sha256"], name="one_sample_per_drawing_and_client"),
            models.CheckConstraint(condition=models.Q(label__lte=9), name="sample_label_is_a_digit"),
        ]
        permissions = [("review_sample", "Can review samples (approve, reject, relabel, undo)")]

    def __str__(self) -> str:
        return f"sample {self.id} ({self.label}, {self.status})"

    @staticmethod
    def margin_of(probabilities: list[float]) -> float | None:
        """Top probability minus the second: how sure the model was over its runner-up."""
        if len(probabilities) < 2:
            return None
        first, second = sorted(probabilities, reverse=True)[:2]
        return float(first - second)

    @property
    def array(self) -> np.ndarray:
        return pixels_decode(self.pixels)


class SampleReview(models.Model):
    """One staff decision on a sample: who, when, and what it changed (so a
    decision can be undone and the history audited)."""

    class Action(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"
        RELABEL = "relabel", "Relabel and approve"
        UNDO = "undo", "Undo"
        # No reviewer: the triage worker approved it (digits/triage.py), or a
        # contributor's quarantine took an auto-approval back.
        AUTO_APPROVE = "auto_approve", "Auto-approve"
        QUARANTINE = "quarantine", "Quarantine"

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    from_status = models.CharField(max_length=16, choices=Sample.Status.choices)
    to_status = models.CharField(max_length=16, choices=Sample.Status.choices)
    from_label = models.PositiveSmallIntegerField()
    to_label = models.PositiveSmallIntegerField()
    # Set on an UNDO entry: the decision it took back (each decision is undone at most once).
    undoes = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="undone_by")

    class Meta:
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} sample {self.sample_id}"


class SampleTally(models.Model):
    """How many drawings carry each status, label and prediction, kept in step
    with every drawing stored, decided on or deleted, in the same transaction
    (digits/tallies.py), so counts never recount the samples table.  At most
    3 x 10 x 11 rows."""

    NO_PREDICTION = -1

    status = models.CharField(max_length=16, choices=Sample.Status.choices)
    label = models.PositiveSmallIntegerField()
    predicted = models.SmallIntegerField()  # NO_PREDICTION for drawings stored without one
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["status", "label", "predicted"], name="one_tally_per_key")]

    def __str__(self) -> str:
        return f"{self.status} {self.label}/{self.predicted}: {self.n}"


class SampleDayTally(models.Model):
    """Drawings collected per day (UTC) and status, kept like ``SampleTally``."""

    day = models.DateField()
    status = models.CharField(max_length=16, choices=Sample.Status.choices)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "status"], name="one_day_tally_per_key")]

    def __str__(self) -> str:
        return f"{self.day} {self.status}: {self.n}"


class SampleReading(models.Model):
    """How one model version read one stored drawing: a drawing's history
    across versions.  Computed in the worker when a version is registered,
    for the held-out drawings and the recent ones (training.readings), and
    stored, so no page runs a model to show it."""

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="readings")
    version = models.ForeignKey("models.ModelVersion", on_delete=models.CASCADE, related_name="+")
    predicted = models.PositiveSmallIntegerField()
    confidence = models.FloatField()
    held_out = models.BooleanField(default=False)  # never trained on: fair for comparing versions
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sample", "version"], name="one_reading_per_sample_and_version")]
        indexes = [models.Index(fields=["version", "held_out"], name="reading_version_held_out")]

    def __str__(self) -> str:
        return f"sample {self.sample_id} read by {self.version_id} as {self.predicted}"


class Contributor(models.Model):
    """One client id (a browser session) that gave drawings: how far its
    labels are trusted, and whether staff quarantined it.  Trust is
    recomputed from its drawings (digits/services.py:contributors_trust_refresh):
    agreement with people's decisions and with the model's confident readings,
    under a prior that makes a new id start low."""

    client_id = models.CharField(max_length=64, unique=True)
    trust = models.FloatField(default=0.1)
    agreed = models.FloatField(default=0)  # weighted agreements (a person's decision weighs more)
    judged = models.FloatField(default=0)
    drawings = models.PositiveIntegerField(default=0)
    quarantined = models.BooleanField(default=False)
    quarantined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    quarantined_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-drawings", "client_id"]

    def __str__(self) -> str:
        return f"{self.client_id} (trust {self.trust:.2f})"
