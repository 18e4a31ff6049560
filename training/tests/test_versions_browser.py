"""Versions against each other, in Chromium, from the readings the worker
stored: the /models/ scoreboard, the drawings one version reads right and
the other wrong (a thumbnail opens the sample, which shows its history), a
refused candidate's failed checks, and the history in the review queue."""

import numpy as np
import pytest

from digits.models import Sample
from digits.services import sample_readings_store
from models.models import ModelVersion
from tests.users import PASSWORD
from training.selectors import is_held_out

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compare_two_versions_and_open_a_drawings_history(
    page, live_server, active_version, register_version, make_drawings, mnist, superuser
):
    stored = make_drawings(mnist.x_test[:200], mnist.y_test[:200])
    held = [d for d in stored if is_held_out(d.image_sha256)][:5]
    ids, labels = [d.id for d in held], [d.label for d in held]
    gate = {
        "passed": False,
        "checks": [{"check": "held-out drawings", "passed": False, "candidate": 0.4, "active": 1.0}],
    }
    refused = register_version(parent=active_version, metrics={"mnist_accuracy": 0.97, "gate": gate})
    ModelVersion.objects.filter(pk=refused.pk).update(status=ModelVersion.Status.REJECTED, status_reason="Gate failed")
    right, wrong = np.eye(10)[labels], np.eye(10)[[(y + 1) % 10 for y in labels]] * 0.9 + 0.01
    sample_readings_store(version=active_version, sample_ids=ids, probabilities=right, held_out=set(ids))
    mixed = np.vstack([right[:2], wrong[2:]])
    sample_readings_store(version=refused, sample_ids=ids, probabilities=mixed, held_out=set(ids))

    page.goto(f"{live_server.url}/admin/login/?next=/models/")
    page.fill("#id_username", superuser.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    row = page.locator(f'#scoreboard tr[data-version="{refused.version}"]')
    assert row.locator("td").last.inner_text() == "40% (2/5)"
    assert page.locator(f'#scoreboard tr[data-version="{active_version.version}"] td').last.inner_text() == "100% (5/5)"

    page.select_option('select[name="a"]', str(active_version.version))
    page.select_option('select[name="b"]', str(refused.version))
    page.click("#compare button[type=submit]")
    assert page.locator("#first-only a.thumb").count() == 3
    assert page.locator("#second-only a.thumb").count() == 0
    assert page.locator("#second-only").inner_text() == "None."
    candidate = page.locator(f'.refused[data-version="{refused.version}"]')
    assert "held-out drawings" in candidate.locator("li").first.inner_text()
    assert candidate.locator("a.thumb").count() == 3

    page.locator("#first-only a.thumb").first.click()  # opens the sample in the admin, with its history
    history = page.locator(".field-history .readonly").inner_text()
    sample = Sample.objects.get(id=int(page.url.rstrip("/").split("/")[-2]))
    assert (
        history
        == f"v{active_version.version}: {sample.label} (100%) → v{refused.version}: {(sample.label + 1) % 10} (91%)"
    )


def test_the_review_queue_shows_how_each_version_read_the_drawing(
    page, live_server, active_version, register_version, make_drawings, mnist, superuser
):
    (drawing,) = make_drawings(mnist.x_test[:1], mnist.y_test[:1], status=Sample.Status.PENDING)
    later = register_version(parent=active_version)
    seven_then_nine = [np.eye(10)[7] * 0.99 + 0.001, np.eye(10)[9] * 0.97 + 0.003]
    for version, p in zip([active_version, later], seven_then_nine, strict=True):
        sample_readings_store(version=version, sample_ids=[drawing.id], probabilities=p[None], held_out=set())
    page.goto(f"{live_server.url}/admin/login/?next=/review/")
    page.fill("#id_username", superuser.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector(f'#sample[data-sample-id="{drawing.id}"]')
    assert page.inner_text("#history") == f"Read by v{active_version.version}: 7 (99%) → v{later.version}: 9 (97%)"


def test_staff_see_a_drawing_through_two_versions_side_by_side(
    page, live_server, active_version, register_version, superuser
):
    from digits.tests.test_page_browser import SEVEN, draw

    candidate = register_version(parent=active_version)
    page.goto(f"{live_server.url}/admin/login/?next=/")
    page.fill("#id_username", superuser.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#architecture svg")
    page.select_option("#compare-version", str(candidate.version))
    draw(page, SEVEN)
    page.wait_for_selector("#compare-result:not([hidden])")
    served, other = page.locator('[data-side="served"]'), page.locator('[data-side="other"]')
    assert served.locator(".side-version").inner_text() == f"v{active_version.version}"
    assert other.locator(".side-version").inner_text() == f"v{candidate.version}"
    assert other.locator(".side-digit").inner_text() == "7"  # the same weights here: the same answer
    assert other.locator(".bar .pct").count() == 10
    page.click("details.compare-layers summary")  # the compared version's feature maps, on request
    page.wait_for_selector('#compare-layers .layer[data-layer="conv1"] canvas[data-ready="true"]')
    other.locator('.bar[data-digit="9"]').hover()  # a digit's map on both sides at once
    assert served.locator(".side-why").get_attribute("data-digit") == "9"
    assert other.locator(".side-why").get_attribute("data-digit") == "9"
    assert other.locator(".side-caption").inner_text().startswith("Why not a 9?")
