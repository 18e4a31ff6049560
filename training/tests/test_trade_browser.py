"""The trade, in Chromium on the real /models/ page: a refusal that names
the digit and links its images, both sides of the trade, and accepting it
with a reason, which serves the candidate and goes into the timeline."""

import pytest

from models.models import ModelActivation, ModelVersion
from tests.users import PASSWORD
from training.models import TradeDecision

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_follow_the_refusal_to_its_images_and_accept_the_trade(page, live_server, traded, superuser):
    page.goto(f"{live_server.url}/admin/login/?next=/models/")
    page.fill("#id_username", superuser.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")

    refusal = page.locator(f'.refused[data-version="{traded.version}"] li').filter(has_text="MNIST validation, 7s")
    assert "more than 0.5 point below the parent" in refusal.inner_text()
    trade = page.locator(f"#trade-v{traded.version}-digit-7")
    groups = trade.locator(".trade-group")
    assert groups.count() == 2
    assert groups.nth(0).locator("h4").inner_text() == "7 → 1 (4)"
    assert groups.nth(1).locator("h4").inner_text() == "7 → 9 (2)"
    assert groups.nth(0).locator(".misread img").count() == 4
    assert groups.nth(0).locator(".pulled a.thumb").count() == 6  # the neighbours of the four, deduplicated
    # Every image is drawn (decoded by the browser), not a broken link.
    widths = trade.locator("img").evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth)")
    assert widths == [28] * len(widths) and len(widths) == 4 + 6 + 2 + 4  # lost and pulled, two groups

    refusal.locator("a.misread-link").click()
    page.wait_for_url(f"**/models/v{traded.version}/misread/7/")
    shown = page.locator("#misread figure").evaluate_all("fs => fs.map(f => Number(f.dataset.index))")
    assert shown == traded.metrics["gate"]["checks"][1]["lost"]
    page.go_back()

    form = page.locator(f"#trade-v{traded.version} form.trade-form")
    form.locator("button[value=accepted]").click()  # no reason yet: the browser asks for one, nothing is sent
    assert form.locator("input[name=reason]").evaluate("i => i.validationMessage") != ""
    assert page.url.endswith("/models/") and not TradeDecision.objects.exists()
    form.locator("input[name=reason]").fill("the slashed zeros are most of this class's drawings")
    form.locator("button[value=accepted]").click()
    page.wait_for_url("**/models/#timeline")

    first = page.locator("#timeline li").first.inner_text()
    second = page.locator("#timeline li").nth(1).inner_text()
    assert f"{traded} served, replacing {traded.parent}, by ada" in first + second
    assert f"trade of {traded} accepted by ada" in first + second
    assert "the slashed zeros are most of this class's drawings" in first + second
    assert page.locator(f"#trade-v{traded.version} .trade-decided").inner_text().startswith("Trade accepted by ada")
    assert page.locator(f"#trade-v{traded.version} form").count() == 0
    traded.refresh_from_db()
    assert traded.status == ModelVersion.Status.ACTIVE
    assert ModelActivation.objects.get(version=traded).by == "ada"
    assert TradeDecision.objects.get().decision == TradeDecision.Decision.ACCEPTED
