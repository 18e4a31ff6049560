from django.db import models
from django.db.models import Q

from webapp.storage import artifact_storage


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        REJECTED = "rejected", "Rejected"

    version = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    artifact = models.FileField(storage=artifact_storage, max_length=255)
    sha256 = models.CharField(max_length=64)
    # What web processes serve: the LiteRT export of ``artifact``, checked
    # against it before registration (training/litert.py).  Empty only for
    # versions registered before LiteRT; `manage.py export_litert` fills them.
    litert_artifact = models.FileField(storage=artifact_storage, max_length=255, blank=True)
    litert_sha256 = models.CharField(max_length=64, blank=True)
    architecture = models.JSONField(default=list)
    # mnist_accuracy, per_class_accuracy, confusion_matrix, heldout_* ...
    metrics = models.JSONField(default=dict)
    mnist_accuracy = models.FloatField(null=True, blank=True)
    heldout_accuracy = models.FloatField(null=True, blank=True)
    # hyperparameters, seed, augmentation, code revision
    params = models.JSONField(default=dict)
    data_summary = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    status_reason = models.TextField(blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    # Set when a process failed to load this artifact (corrupt, missing).
    load_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="exactly_one_active_model_version"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.version}"


class ModelActivation(models.Model):
    """Audit timeline: which version was served from when, and who said so."""

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="activations")
    previous = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    activated_at = models.DateTimeField(auto_now_add=True)
    by = models.CharField(max_length=150)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-activated_at", "-id"]

    def __str__(self) -> str:
        return f"{self.version} by {self.by}"
