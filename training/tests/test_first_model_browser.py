"""The drawing page before the first model, in Chromium: it says the first
model is training with the run's progress, and comes alive by itself (no
reload) once a version is served, reading the digit drawn meanwhile."""

import pytest
from django.utils import timezone

from digits.tests.test_page_browser import SEVEN, draw
from models.registry import model_version_activate
from training.models import TrainingRun
from training.services import training_run_finish, training_run_progress

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BAR = "document.querySelector('#first-model-progress')"


def test_the_page_shows_the_first_models_progress_and_comes_alive_when_it_is_served(
    live_server, page, register_version
):
    run = TrainingRun.objects.create(
        kind=TrainingRun.Kind.BASELINE,
        trigger=TrainingRun.Trigger.STARTUP,
        status=TrainingRun.Status.RUNNING,
        started_at=timezone.now(),
        epochs=9,
    )
    page.goto(live_server.url + "/")
    banner = page.locator("#first-model")
    assert banner.is_visible()
    assert banner.locator("h2").inner_text() == "The first model is training"
    page.wait_for_function("document.querySelector('#first-model-text').textContent.includes('loading TensorFlow')")
    assert page.evaluate(f"[{BAR}.value, {BAR}.max]") == [0, 9]

    training_run_progress(run_id=run.pk, epoch=3, epochs=9, logs={"loss": 0.2, "accuracy": 0.94})
    page.wait_for_function(f"{BAR}.value === 3", timeout=10_000)
    assert page.locator("#first-model-text").inner_text() == "Epoch 3 of 9 done."

    # Someone draws meanwhile: predict answers 503, and the page says why.
    page.evaluate("window.sameDocument = true")
    draw(page, SEVEN)
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('No model yet')")
    assert page.locator("#digit").inner_text() == "?"

    version = model_version_activate(version=register_version(), by=f"training run {run.pk}")
    training_run_finish(run_id=run.pk, status=TrainingRun.Status.SUCCEEDED, result=version)
    page.wait_for_selector("#first-model", state="hidden", timeout=15_000)
    # Alive without a reload: the served version, its diagram, and the 7 drawn meanwhile read at once.
    page.wait_for_function("document.querySelector('#digit').textContent === '7'", timeout=10_000)
    assert page.locator("#model-version").inner_text() == f"v{version.version}"
    page.wait_for_selector("#architecture svg")
    assert page.evaluate("window.sameDocument") is True
