"""Reads of the model registry."""

from __future__ import annotations

from .models import ModelActivation, ModelVersion


def active_model_version_get() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def model_version_get(*, number: int) -> ModelVersion | None:
    return ModelVersion.objects.filter(version=number).first()


def model_version_by_id_get(*, version_id: int) -> ModelVersion | None:
    return ModelVersion.objects.filter(pk=version_id).first()


def model_version_list():
    return ModelVersion.objects.select_related("parent").order_by("-version")


def activation_history(limit: int = 50):
    return ModelActivation.objects.select_related("version", "previous")[:limit]
