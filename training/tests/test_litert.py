"""The LiteRT export: checked against Keras before a version is registered,
refused when it answers differently, and made for older versions by command."""

import keras
import numpy as np
import pytest
from django.core.management import call_command

from models.models import ModelVersion
from models.serving import artifact_read, load_version
from training.litert import ExportRefused, litert_check
from training.network import build_cnn


def test_the_export_answers_as_keras_does_on_mnist_test(tiny_litert):
    assert tiny_litert.images_checked == 2000
    assert tiny_litert.argmax_agreement == 1.0
    assert tiny_litert.max_probability_difference <= 1e-4
    assert [layer["name"] for layer in tiny_litert.architecture][-1] == "output"


def test_an_export_of_another_model_is_refused_with_the_reason(tiny_litert, mnist):
    keras.utils.set_random_seed(7)
    other = build_cnn()  # same layers, other weights: the export no longer matches
    with pytest.raises(ExportRefused, match=r"digit differs from Keras on \d+ of 500 MNIST test images"):
        litert_check(other, tiny_litert.content, architecture=tiny_litert.architecture, images=mnist.x_test[:500])


@pytest.mark.django_db
def test_the_registry_keeps_the_export_with_its_own_sha256(register_version, tiny_litert):
    version = register_version()
    assert version.litert_artifact.name.endswith(".tflite")
    assert version.litert_sha256 and version.litert_sha256 != version.sha256
    assert artifact_read(version, litert=True) == tiny_litert.content


@pytest.mark.django_db
def test_the_command_exports_a_version_registered_before_litert(register_version, mnist, settings):
    settings.MNIST_PATH = settings.MNIST_PATH or str(settings.MNIST_CACHE)
    old = register_version()
    ModelVersion.objects.filter(pk=old.pk).update(litert_artifact="", litert_sha256="", load_error="no LiteRT")
    call_command("export_litert")
    old.refresh_from_db()
    assert old.litert_sha256 and old.load_error == ""
    served = load_version(old)
    probabilities = served.predictor.predict_batch(mnist.x_test[:100])
    assert (probabilities.argmax(axis=1) == mnist.y_test[:100]).mean() >= 0.8
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
