"""The trade on /models/: a candidate refused for a digit, the validation
images it newly misreads (rendered from MNIST by index) beside the held-out
drawings that pulled the boundary, and staff's recorded answer."""

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from models.models import ModelVersion
from models.registry import model_version_activate
from training.datasets import validation_split
from training.models import TradeDecision


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


def png_pixels(data_url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


@pytest.mark.django_db
def test_the_page_groups_the_lost_images_true_to_predicted_beside_the_drawings_that_pulled(staff_client, traded, mnist):
    response = staff_client.get("/models/")
    trades = response.context["trades"]
    assert [t.version for t in trades] == [traded] and trades[0].decidable
    ((digit, groups),) = trades[0].digits
    assert digit == 7 and [(g.true, g.predicted, len(g.images)) for g in groups] == [(7, 1, 4), (7, 9, 2)]
    misread = traded.metrics["trade"]["misread"]
    x_val = validation_split(mnist).x_validation
    for index, url in groups[0].images + groups[1].images:  # the dataset's own pixels, by index
        assert np.array_equal(png_pixels(url), x_val[index])
    neighbours = {n for m in misread[:4] for n in m["neighbours"]}
    assert {s.id for s in groups[0].drawings} == neighbours
    assert groups[0].drawings[0].id == misread[2]["neighbours"][0]  # among the nearest to three of the four
    html = response.content.decode()
    assert "7 → 1 (4)" in html and "7 → 9 (2)" in html and 'name="decision" value="accepted"' in html
    assert html.count('alt="validation image ') == 6
    assert f'href="/models/v{traded.version}/misread/7/">the 6 validation 7s it newly misreads</a>' in html


@pytest.mark.django_db
def test_the_refusal_links_to_the_images_rendered_from_mnist_by_index(staff_client, traded):
    page = staff_client.get(f"/models/v{traded.version}/misread/7/")
    assert page.status_code == 200
    html = page.content.decode()
    lost = traded.metrics["gate"]["checks"][1]["lost"]
    assert [int(i) for i in re.findall(r'data-index="(\d+)"', html)] == lost
    assert "more than 0.5 point below the parent" in html
    assert staff_client.get(f"/models/v{traded.version}/misread/3/").status_code == 404  # not refused for its 3s


@pytest.mark.django_db
def test_a_decision_needs_a_reason_and_a_known_answer_and_stores_nothing_otherwise(staff_client, traded):
    url = f"/models/v{traded.version}/trade/"
    for data, words in [
        ({"decision": "accepted", "reason": "  "}, "Give the reason"),
        ({"decision": "maybe", "reason": "why not"}, "Decide 'accepted' or 'refused'"),
    ]:
        response = staff_client.post(url, data)
        assert response.status_code == 400 and words in response.json()["message"]
    assert staff_client.post("/models/v99/trade/", {"decision": "refused", "reason": "x"}).status_code == 404
    traded.refresh_from_db()
    assert not TradeDecision.objects.exists() and traded.status == ModelVersion.Status.REJECTED


@pytest.mark.django_db
def test_refusing_the_trade_is_recorded_in_the_timeline_and_cannot_be_decided_twice(staff_client, traded):
    url = f"/models/v{traded.version}/trade/"
    response = staff_client.post(url, {"decision": "refused", "reason": "7s matter more than slashed zeros"})
    assert response.status_code == 302 and response.url == "/models/#timeline"
    traded.refresh_from_db()
    assert traded.status == ModelVersion.Status.REJECTED
    decision = TradeDecision.objects.get()
    assert (decision.decision, decision.by, decision.version) == ("refused", "ada", traded)
    html = staff_client.get("/models/").content.decode()
    assert f"trade of {traded} refused\n      by ada" in html and "7s matter more than slashed zeros" in html
    again = staff_client.post(url, {"decision": "accepted", "reason": "changed my mind"})
    assert again.status_code == 400 and "already decided" in again.json()["message"]
    assert TradeDecision.objects.count() == 1


@pytest.mark.django_db
def test_a_trade_judged_against_a_parent_no_longer_served_cannot_be_accepted(staff_client, traded, register_version):
    model_version_activate(version=register_version(), by="someone else")
    response = staff_client.post(f"/models/v{traded.version}/trade/", {"decision": "accepted", "reason": "ok"})
    assert response.status_code == 400 and "no longer served" in response.json()["message"]
    traded.refresh_from_db()
    assert traded.status == ModelVersion.Status.REJECTED and "not promoted" not in traded.status_reason
    assert not TradeDecision.objects.exists()


@pytest.mark.django_db
def test_only_staff_decide(client, visitor, traded):
    client.force_login(visitor)
    assert client.post(f"/models/v{traded.version}/trade/", {"decision": "accepted", "reason": "x"}).status_code == 302
    assert client.get(f"/models/v{traded.version}/misread/7/").status_code == 302
    traded.refresh_from_db()
    assert traded.status == ModelVersion.Status.REJECTED and not TradeDecision.objects.exists()
