import logging

import numpy as np
import pytest

from models.models import ModelVersion
from models.registry import model_version_activate
from models.serving import ArtifactError, ModelServer, NoModelError, load_version


@pytest.fixture
def server():
    return ModelServer(poll_seconds=0.0)


@pytest.mark.django_db
def test_the_served_model_recognises_mnist_digits(active_version, server, mnist):
    served = server.get()
    assert served.version == active_version.version
    hits = sum(served.predictor.predict(mnist.x_test[i]).digit == mnist.y_test[i] for i in range(50))
    assert hits >= 42


@pytest.mark.django_db
def test_activations_cover_every_conv_pool_and_dense_layer(active_version, server, mnist):
    prediction = server.get().predictor.predict(mnist.x_test[0], activations=True)
    acts = prediction.activations
    assert list(acts) == ["conv1", "conv2", "pool1", "conv3", "conv4", "pool2", "dense", "output"]
    assert acts["conv1"].shape == (26, 26, 32) and acts["pool2"].shape == (4, 4, 64)
    assert acts["dense"].shape == (128,)
    assert np.allclose(acts["output"], prediction.probabilities)
    plain = server.get().predictor.predict(mnist.x_test[0])
    assert np.allclose(plain.probabilities, prediction.probabilities, atol=1e-5)


@pytest.mark.django_db
def test_nothing_active_is_a_clear_error(server):
    with pytest.raises(NoModelError):
        server.get()


@pytest.mark.django_db
def test_a_newly_activated_version_is_swapped_in_without_restart(active_version, register_version, server):
    assert server.get().version == 1
    v2 = register_version(parent=active_version)
    model_version_activate(version=v2, by="test")
    served = server.wait_for(v2.pk, timeout=20)
    assert served.version == 2


@pytest.mark.django_db
def test_a_corrupt_artifact_is_refused_and_the_old_model_keeps_serving(
    active_version, register_version, server, caplog
):
    assert server.get().version == 1
    v2 = register_version()
    path = v2.litert_artifact.path  # what web processes serve
    with open(path, "r+b") as fh:
        fh.seek(100)
        fh.write(b"garbage")
    model_version_activate(version=v2, by="test")
    with caplog.at_level(logging.ERROR, logger="models.serving"):
        server._refresh(block=True)
    assert server.get().version == 1
    assert "Refusing model v2" in caplog.text and "sha256" in caplog.text
    v2.refresh_from_db()
    assert "sha256" in v2.load_error


@pytest.mark.django_db
def test_a_missing_artifact_is_refused(register_version):
    version = register_version()
    version.litert_artifact.storage.delete(version.litert_artifact.name)
    with pytest.raises(ArtifactError, match="cannot be read"):
        load_version(ModelVersion.objects.get(pk=version.pk))


@pytest.mark.django_db
def test_the_admin_says_when_an_artifact_was_refused(active_version, register_version, server, admin_client):
    assert server.get().version == 1
    v2 = register_version()
    v2.litert_artifact.storage.delete(v2.litert_artifact.name)  # deleted from the shared storage
    model_version_activate(version=v2, by="test")
    server._refresh(block=True)
    assert server.get().version == 1  # still the last good model
    page = admin_client.get(f"/admin/models/modelversion/{v2.pk}/change/").content.decode()
    assert "cannot be read" in page
    listing = admin_client.get("/admin/models/modelversion/").content.decode()
    assert "icon-yes.svg" in listing  # the "load error" column is set for v2


@pytest.mark.django_db
def test_a_version_registered_before_litert_is_refused_with_the_command_that_fixes_it(register_version):
    version = register_version()
    ModelVersion.objects.filter(pk=version.pk).update(litert_artifact="", litert_sha256="")
    with pytest.raises(ArtifactError, match="export_litert"):
        load_version(ModelVersion.objects.get(pk=version.pk))


@pytest.mark.django_db
def test_the_batch_path_gives_the_one_sample_probabilities(active_version, server, mnist):
    predictor = server.get().predictor
    images = mnist.x_test[:40]  # more than one chunk of the batch interpreter
    batch = predictor.predict_batch(images)
    assert batch.shape == (40, 10) and batch.dtype == np.float32
    one_by_one = np.stack([predictor.predict(x).probabilities for x in images])
    assert np.allclose(batch, one_by_one, atol=1e-5)
    assert (batch.argmax(axis=1) == mnist.y_test[:40]).mean() >= 0.8
