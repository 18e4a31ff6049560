import keras
import pytest
from django.core.management import call_command

from models.models import ModelVersion
from training.models import TrainingRun
from training.network import build_cnn


@pytest.mark.slow
@pytest.mark.django_db
def test_train_baseline_registers_and_activates_a_real_model(capsys, settings):
    # Sized as compose's migrate job sizes its first model: by settings, no options.
    settings.BASELINE_EPOCHS, settings.BASELINE_TRAIN_LIMIT, settings.BASELINE_TEST_LIMIT = 1, 3000, 500
    call_command("train_baseline", "--if-empty", batch_size=32)
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "MNIST test accuracy" in out
    version = ModelVersion.objects.get()
    assert version.status == ModelVersion.Status.ACTIVE
    # A real model trained on 2000 images recognises most digits.
    assert version.mnist_accuracy > 0.8
    assert len(version.metrics["mnist_confusion"]) == 10
    assert version.params["seed"] == 1234 and version.params["augment"]["salt_pepper"] > 0
    # Trained with batch normalisation, registered as the plain served network.
    assert version.params["batchnorm"] is True
    served = keras.models.load_model(version.artifact.path, compile=False)
    assert [layer.name for layer in served.layers] == [layer.name for layer in build_cnn().layers]
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED and run.result == version
    assert run.history[0]["epoch"] == 1 and "loss" in run.history[0]
    assert (run.params["epochs"], run.params["train_limit"], run.params["test_limit"]) == (1, 3000, 500)


@pytest.mark.django_db
def test_a_second_baseline_with_if_empty_does_nothing(active_version, capsys):
    call_command("train_baseline", if_empty=True)
    assert "already holds" in capsys.readouterr().out
    assert ModelVersion.objects.count() == 1
