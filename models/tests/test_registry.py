import hashlib

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from models.models import ModelActivation, ModelVersion
from models.registry import RegistryError, model_version_activate, model_version_reject, model_version_roll_back
from models.selectors import active_model_version_get


@pytest.mark.django_db
def test_a_registered_version_has_its_artifact_and_checksum(register_version):
    version = register_version()
    assert version.version == 1 and version.status == ModelVersion.Status.CANDIDATE
    with version.artifact.open("rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == version.sha256
    assert any(layer["name"] == "conv1" for layer in version.architecture)
    assert register_version().version == 2


@pytest.mark.django_db
def test_activating_retires_the_previous_version_and_records_it(register_version):
    v1, v2 = register_version(), register_version()
    model_version_activate(version=v1, by="alice")
    model_version_activate(version=v2, by="bob", reason="better")
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert v1.status == ModelVersion.Status.RETIRED and v2.status == ModelVersion.Status.ACTIVE
    assert active_model_version_get() == v2
    history = list(ModelActivation.objects.values_list("version__version", "previous__version", "by"))
    assert history == [(2, 1, "bob"), (1, None, "alice")]


@pytest.mark.django_db
def test_the_database_refuses_two_active_versions(register_version):
    v1, v2 = register_version(), register_version()
    model_version_activate(version=v1, by="test")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=v2.pk).update(status=ModelVersion.Status.ACTIVE)


@pytest.mark.django_db
def test_promote_rolls_back_to_an_earlier_version(register_version, capsys):
    v1, v2 = register_version(), register_version()
    model_version_activate(version=v2, by="test")
    call_command("promote", "1")
    assert active_model_version_get() == v1
    call_command("list_models")
    out = capsys.readouterr().out
    assert "v1" in out and "active" in out and "retired" in out


@pytest.mark.django_db
def test_promote_names_an_unknown_version():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no model version 7"):
        call_command("promote", "7")


@pytest.mark.django_db
def test_activating_against_an_expected_current_that_changed_leaves_a_candidate_saying_why(register_version):
    v1, v2, v3 = register_version(), register_version(), register_version()
    model_version_activate(version=v1, by="test")
    model_version_activate(version=v2, by="staff")  # while v3 was trained from v1

    result = model_version_activate(version=v3, by="training run 1", reason="Gate passed", expected_current=v1)

    assert result.status == v3.status == ModelVersion.Status.CANDIDATE
    assert v3.status_reason == "Gate passed; not promoted: v2 is active, not v1 as expected"
    assert active_model_version_get() == v2 and ModelActivation.objects.count() == 2


@pytest.mark.django_db
def test_activating_with_none_expected_activates_only_into_an_empty_registry(register_version):
    v1, v2 = register_version(), register_version()
    assert model_version_activate(version=v1, by="a", expected_current=None).status == ModelVersion.Status.ACTIVE
    assert model_version_activate(version=v2, by="b", expected_current=None).status == ModelVersion.Status.CANDIDATE
    assert active_model_version_get() == v1
    v2.refresh_from_db()
    assert v2.status_reason == "not promoted: v1 is active, not none as expected"


@pytest.mark.django_db
def test_a_refused_candidate_is_rejected_with_the_reason_and_an_active_version_never_is(register_version):
    v1, v2 = register_version(), register_version()
    model_version_activate(version=v1, by="test")

    rejected = model_version_reject(version=v2, reason="Gate failed: MNIST test 98% vs active 99%")
    model_version_reject(version=v1, reason="no")

    assert (rejected.status, rejected.status_reason) == ("rejected", "Gate failed: MNIST test 98% vs active 99%")
    v1.refresh_from_db()
    assert v1.status == ModelVersion.Status.ACTIVE


@pytest.mark.django_db
def test_rolling_back_serves_an_older_version_and_refuses_a_newer_one(register_version):
    v1, v2, v3 = register_version(), register_version(), register_version()
    model_version_activate(version=v2, by="test")
    with pytest.raises(RegistryError, match="not older"):
        model_version_roll_back(version=v3, by="staff")

    model_version_roll_back(version=v1, by="staff")

    activation = ModelActivation.objects.first()
    assert (activation.version, activation.previous, activation.reason) == (v1, v2, "rolled back from v2")
