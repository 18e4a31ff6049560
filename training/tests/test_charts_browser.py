"""The /models/ page's charts in Chromium, wide and on a phone: a training
run's readings per epoch (growing while the run goes on), every version's
accuracies over time with its promotions, rollback and refusal marked, a
click on a point that opens its version, and the page before any of it."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from models.models import ModelActivation, ModelVersion
from models.registry import model_version_activate, model_version_reject, model_version_roll_back
from training.models import TrainingRun
from training.services import training_run_progress
from webapp.tests.charts import PHONE, SHOTS, VIEWPORTS, WIDE, chart_points, log_in, screenshot, viewport_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw"


@pytest.fixture
def stella(db):
    return get_user_model().objects.create_superuser("stella", "s@example.com", PASSWORD)


def metrics(validation: float, heldout: float | None) -> dict:
    return {"mnist_accuracy": 0.99, "validation_accuracy": validation, "heldout_accuracy": heldout}


@pytest.fixture
def history(active_version, register_version):
    """v1 served, v2 promoted over it, v3 refused, then a rollback to v1;
    v4 registered before validation was measured (no points of its own).
    A baseline run with validation readings, and a fine-tuning in flight."""
    v1 = active_version
    ModelVersion.objects.filter(pk=v1.pk).update(metrics=metrics(0.991, None))
    v2 = register_version(parent=v1, metrics=metrics(0.994, 0.91))
    model_version_activate(version=v2, by="training run 2", reason="Gate passed")
    v3 = register_version(parent=v2, metrics=metrics(0.989, 0.84))
    model_version_reject(version=v3, reason="Gate failed")
    model_version_roll_back(version=v1, by="stella")
    v4 = register_version(parent=v1, metrics={"mnist_accuracy": 0.98})
    # A day between versions, as in use: each marker rings its own point
    # (a promotion seconds after its version), none overlaps another's.
    start = timezone.now() - timedelta(days=5)
    for day, version in enumerate([v1, v2, v3, v4]):
        ModelVersion.objects.filter(pk=version.pk).update(created_at=start + timedelta(days=day))
    for activation in ModelActivation.objects.all():
        at = start + timedelta(days=activation.version.version - 1, seconds=10)
        if activation.version == v1 and activation.previous == v2:  # the rollback, between v3 and v4
            at = start + timedelta(days=2.5)
        ModelActivation.objects.filter(pk=activation.pk).update(activated_at=at)
    v2.refresh_from_db()
    baseline = TrainingRun.objects.create(
        kind=TrainingRun.Kind.BASELINE, trigger="command", status="succeeded", epoch=3, epochs=3, result=v1
    )
    for epoch, (loss, accuracy) in enumerate([(0.4, 0.88), (0.12, 0.96), (0.07, 0.98)], start=1):
        readings = {"loss": loss, "accuracy": accuracy, "val_loss": loss * 0.8, "val_accuracy": accuracy + 0.01}
        training_run_progress(run_id=baseline.id, epoch=epoch, epochs=3, logs=readings)
    TrainingRun.objects.filter(pk=baseline.pk).update(status="succeeded")
    running = TrainingRun.objects.create(trigger="manual", status="running", epochs=4, parent=v1)
    training_run_progress(run_id=running.id, epoch=1, epochs=4, logs={"loss": 0.09, "accuracy": 0.975})
    return {"v2": v2, "baseline": baseline, "running": running}


VERSION_POINTS = {
    "MNIST validation": (3, 3),  # v1, v2, v3 (v4 has none)
    "held-out drawings": (2, 2),  # v2, v3
    "promoted": (2, 2),  # v1 by the fixture, v2
    "rolled back": (1, 1),  # to v1
    "refused by the gate": (1, 1),  # v3
}


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["wide", "phone"])
def test_the_models_charts_show_every_reading_and_event(chromium, live_server, stella, history, viewport):
    name = "wide" if viewport is WIDE else "phone"
    with viewport_page(chromium, viewport) as (page, errors):
        log_in(page, live_server, stella, PASSWORD, "/models/")
        assert chart_points(page, "#versions-chart") == VERSION_POINTS
        # The run in flight first: one epoch of two readings, no validation.
        assert chart_points(page, "#run-curve") == {"loss": (1, 1), "accuracy": (1, 1)}
        assert page.eval_on_selector("#run-curve", "box => box.chart.scales.x.max") > 4  # room for all its epochs

        training_run_progress(run_id=history["running"].id, epoch=2, epochs=4, logs={"loss": 0.07, "accuracy": 0.98})
        page.wait_for_function("document.getElementById('run-curve').dataset.points === '2'", timeout=10_000)
        assert chart_points(page, "#run-curve") == {"loss": (2, 2), "accuracy": (2, 2)}
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.locator("#versions-over-time").scroll_into_view_if_needed()
        screenshot(page, f"models-{name}")

        page.select_option("#run-curve-select", str(history["baseline"].id))
        four = {"loss": (3, 3), "validation loss": (3, 3), "accuracy": (3, 3), "validation accuracy": (3, 3)}
        assert chart_points(page, "#run-curve") == four
        page.locator("#run-curve").screenshot(path=str(SHOTS / f"models-{name}-baseline-run.png"))
        assert errors == []


def test_a_click_on_a_versions_point_opens_it(page, live_server, stella, history):
    log_in(page, live_server, stella, PASSWORD, "/models/")
    chart_points(page, "#versions-chart")
    page.locator("#versions-chart").scroll_into_view_if_needed()
    v2 = history["v2"]
    x, y = page.eval_on_selector(
        "#versions-chart",
        """(box, at) => {
          const u = box.chart, i = u.data[0].indexOf(at), r = u.over.getBoundingClientRect();
          return [r.left + u.valToPos(at, 'x'), r.top + u.valToPos(u.data[1][i], '%')];
        }""",
        v2.created_at.timestamp(),
    )
    page.mouse.move(x - 30, y)
    page.mouse.click(x, y)
    page.wait_for_url(f"**/admin/models/modelversion/{v2.pk}/change/")
    assert "v2" in page.inner_text("#content")


def test_before_any_run_or_version_the_page_says_so(chromium, live_server, stella):
    for viewport, name in VIEWPORTS:
        with viewport_page(chromium, viewport) as (page, errors):
            log_in(page, live_server, stella, PASSWORD, "/models/")
            assert "No training run yet." in page.inner_text("#training")
            assert "No versions yet" in page.inner_text("#versions-over-time")
            assert page.locator(".chart").count() == 0
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            screenshot(page, f"models-empty-{name}")
            assert errors == []
