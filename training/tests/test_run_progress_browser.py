"""The live progress of a training run, in Chromium: the /models/ page and
the admin's list of runs follow the run in flight through one static poller."""

import pytest

from tests.users import PASSWORD
from training.models import TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_both_pages_follow_the_run_in_flight(page, live_server, superuser):
    run = TrainingRun.objects.create(trigger=TrainingRun.Trigger.MANUAL, status="running", epoch=1, epochs=3)
    page.goto(f"{live_server.url}/admin/login/?next=/models/")
    page.fill("#id_username", superuser.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#run-progress")
    assert page.eval_on_selector("#run-progress", "bar => bar.value") == 1

    history = [{"loss": 0.1234, "accuracy": 0.9876}, {"loss": 0.05, "accuracy": 0.99}]
    TrainingRun.objects.filter(id=run.id).update(epoch=2, history=history, message="epoch 2 done")
    page.wait_for_function("document.getElementById('run-progress').value === 2", timeout=10_000)
    assert page.inner_text("#run-epochs") == "epoch 2/3"
    assert page.inner_text("#run-metrics") == "loss 0.0500, accuracy 0.9900"

    page.goto(f"{live_server.url}/admin/training/trainingrun/")
    bar = f'progress[data-run="{run.id}"]'
    page.wait_for_selector(bar)
    TrainingRun.objects.filter(id=run.id).update(epoch=3, status="succeeded")
    page.wait_for_function(f"document.querySelector('{bar}').value === 3", timeout=10_000)
