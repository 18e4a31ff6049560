from django.db import models
from django.db.models import Q


class TrainingRun(models.Model):
    class Kind(models.TextChoices):
        BASELINE = "baseline", "Baseline"
        FINE_TUNE = "fine_tune", "Fine-tune"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        THRESHOLD = "threshold", "Threshold"
        MANUAL = "manual", "Manual"
        COMMAND = "command", "Command"
        # `make run` with an empty registry: the first model, trained in the worker.
        STARTUP = "startup", "Start-up"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FINE_TUNE)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    epoch = models.PositiveIntegerField(default=0)
    epochs = models.PositiveIntegerField(default=0)
    # [{"epoch": 1, "loss": ..., "accuracy": ...}, ...]
    history = models.JSONField(default=list)
    parent = models.ForeignKey(
        "models.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    result = models.ForeignKey(
        "models.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data_summary = models.JSONField(default=dict)
    params = models.JSONField(default=dict)
    message = models.TextField(blank=True)
    error = models.TextField(blank=True)
    # Who or what asked for the run: a staff username, "beat", "threshold".
    requested_by = models.CharField(max_length=150, blank=True)
    # Drawings reviewed up to this moment were the data of this run; later
    # approvals are what the next run has that this one did not.
    data_until = models.DateTimeField(null=True, blank=True)

    IN_FLIGHT = (Status.QUEUED, Status.RUNNING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.SKIPPED)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Single flight, held by the database: a second trigger cannot
            # queue a fine-tuning while one is queued or running.
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(kind="fine_tune", status__in=["queued", "running"]),
                name="one_fine_tune_in_flight",
            ),
            # One first model at a time, however often `make run` starts.
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(kind="baseline", trigger="startup", status__in=["queued", "running"]),
                name="one_startup_baseline_in_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.id} ({self.kind}, {self.status})"

    @property
    def progress(self) -> float:
        """Share of the epochs done, 0..1."""
        if self.status == self.Status.SUCCEEDED:
            return 1.0
        return min(1.0, self.epoch / self.epochs) if self.epochs else 0.0


class TradeDecision(models.Model):
    """Staff's answer to a trade the gate refused: a candidate that learnt
    drawings of a new style but lost MNIST images of a digit.  Accepting it
    promotes the candidate (through the registry's services); refusing it
    keeps it refused.  Either way the reason is kept, and the /models/ audit
    timeline shows it."""

    class Decision(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        REFUSED = "refused", "Refused"

    version = models.ForeignKey("models.ModelVersion", on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    by = models.CharField(max_length=150)
    reason = models.TextField()
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        # One answer a trade: a second click, or a second member of staff, finds it decided.
        constraints = [models.UniqueConstraint(fields=["version"], name="one_decision_per_trade")]

    def __str__(self) -> str:
        return f"trade of {self.version} {self.decision} by {self.by}"
