from __future__ import annotations

from .models import ModelActivation, ModelVersion


def active_model_version_get() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def active_model_version_id_get() -> int | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list("id", flat=True).first()


def model_version_get(*, number: int) -> ModelVersion | None:
    return ModelVersion.objects.filter(version=number).first()


def model_version_by_id_get(*, version_id: int) -> ModelVersion | None:
    return ModelVersion.objects.filter(pk=version_id).first()


def model_version_list():
    return ModelVersion.objects.select_related("parent").order_by("-version")


def activation_history(limit: int = 50):
    return ModelActivation.objects.select_related("version", "previous")[:limit]


def model_version_list_with_drawings():
    """Versions with how each did on the drawings it predicted (stored samples
    keep the version that predicted them; approved ones carry a checked label)."""
    from django.db.models import Count, F, Q

    approved = Q(samples__status="approved")
    return (
        model_version_list()
        .select_related("training_run")
        .annotate(
            drawings_predicted=Count("samples"),
            drawings_checked=Count("samples", filter=approved),
            drawings_right=Count("samples", filter=approved & Q(samples__predicted=F("samples__label"))),
        )
    )
