import numpy as np
import pytest
from django.test import Client
from PIL import Image

from digits.models import Sample
from digits.preprocessing import drawing_to_mnist
from tests.drawings import data_url, png_bytes, seven_png

URL = "/api/digits/samples"
pytestmark = pytest.mark.django_db


def sample_body(image_url: str, label=7, label_source="confirmed") -> dict:
    return {"image": image_url, "label": label, "label_source": label_source}


def test_it_stores_the_drawing_its_input_the_label_and_the_prediction(post_json, active_version, seven_url):
    response = post_json(URL, sample_body(seven_url, label=7))
    assert response.status_code == 200, response.content
    body = response.json()
    sample = Sample.objects.get(pk=body["id"])
    assert body == {"id": sample.id, "label": 7, "count": 1}
    assert sample.label == 7 and sample.label_source == Sample.LabelSource.CONFIRMED
    assert sample.status == Sample.Status.PENDING
    assert sample.predicted == 7 and sample.model_version_id == active_version.pk
    assert len(sample.probabilities) == 10 and sample.confidence == max(sample.probabilities)
    with sample.image.open("rb") as fh:
        assert fh.read() == seven_png()
    assert np.array_equal(sample.array, drawing_to_mnist(seven_png()))
    assert len(sample.client_id) == 32


def test_sending_the_same_drawing_twice_makes_one_sample(post_json, active_version, seven_url):
    first = post_json(URL, sample_body(seven_url)).json()
    second = post_json(URL, sample_body(seven_url)).json()
    assert first["id"] == second["id"] and second["count"] == 1
    assert Sample.objects.count() == 1


def test_the_count_follows_the_person_not_everyone(post_json, active_version, seven_url):
    assert post_json(URL, sample_body(seven_url)).json()["count"] == 1
    second = post_json(URL, sample_body(data_url(seven_png(box=(50, 40, 210, 230))), label=1, label_source="corrected"))
    assert second.status_code == 200 and second.json()["count"] == 2  # the same person's second drawing
    other = Client()
    body = other.post(URL, sample_body(seven_url, label=9, label_source="prompted"), content_type="application/json")
    assert body.json()["count"] == 1
    assert Sample.objects.count() == 3
    assert Sample.objects.values("client_id").distinct().count() == 2


def test_with_no_model_served_the_drawing_is_kept_without_a_prediction(post_json, seven_url):
    response = post_json(URL, sample_body(seven_url, label=4, label_source="corrected"))
    sample = Sample.objects.get(pk=response.json()["id"])
    assert sample.predicted is None and sample.model_version is None and sample.label == 4


BAD_INPUTS = {
    "not json": (b"label=7", 400),
    "missing label": ({"image": "x", "label_source": "confirmed"}, 422),
    "missing image": ({"label": 7, "label_source": "confirmed"}, 422),
    "missing how labelled": ({"image": "x", "label": 7}, 422),
    "label 10": ("label", 10, 422),
    "label -1": ("label", -1, 422),
    "label a word": ("label", "seven", 422),
    "label 7.5": ("label", 7.5, 422),
    "unknown label source": ("label_source", "guessed", 422),
    "bad base64": ("image", "data:image/png;base64,%%%", 400),
    "not an image": ("image", data_url(b"<svg></svg>"), 400),
    "truncated png": ("image", data_url(seven_png()[:500]), 400),
    "too many pixels": ("image", data_url(png_bytes(Image.new("1", (1500, 1500), 1))), 413),
    "blank canvas": ("image", data_url(png_bytes(Image.new("RGB", (280, 280), "white"))), 422),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gets_a_4xx_json_message_and_stores_nothing(post_json, active_version, seven_url, name):
    case = BAD_INPUTS[name]
    if len(case) == 3:
        field, value, status = case
        body = {**sample_body(seven_url), field: value}
    else:
        body, status = case
    response = post_json(URL, body)
    assert response.status_code == status, response.content
    assert response.json()["detail"]
    assert Sample.objects.count() == 0


def test_a_body_over_the_limit_is_refused(post_json, active_version, settings):
    settings.DIGITS_MAX_BODY_BYTES = 4096
    response = post_json(URL, sample_body(data_url(b"\x89PNG" + b"\x00" * 8000)))
    assert response.status_code == 413
    assert Sample.objects.count() == 0


def test_csrf_is_enforced_for_the_browser(active_version, seven_url):
    browser = Client(enforce_csrf_checks=True)
    refused = browser.post(URL, sample_body(seven_url), content_type="application/json")
    assert refused.status_code == 403 and refused.json()["detail"]
    refused = browser.post("/api/digits/predict", {"image": seven_url}, content_type="application/json")
    assert refused.status_code == 403
    assert Sample.objects.count() == 0

    page = browser.get("/")
    assert page.status_code == 200
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        URL, sample_body(seven_url), content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == 200
    assert Sample.objects.count() == 1


def test_the_prompt_favours_the_focus_digits(client, settings):
    settings.FOCUS_DIGITS = [7, 9]
    digits = [client.get("/api/digits/prompt").json()["digit"] for _ in range(200)]
    assert set(digits) <= set(range(10))
    share = sum(d in (7, 9) for d in digits) / len(digits)
    assert share > 0.5  # 0.6 + 0.4 * 2/10 = 0.68 expected; uniform would be 0.2


def test_a_body_that_does_not_validate_gets_the_common_error_shape(post_json, seven_url, db):
    response = post_json("/api/digits/samples", {"image": seven_url, "label": "seven", "label_source": "confirmed"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid" and "label" in body["detail"] and isinstance(body["errors"], list)
    assert not Sample.objects.exists()


def test_a_refused_drawing_leaves_no_session_behind(post_json, active_version):
    from django.contrib.sessions.models import Session

    blank = data_url(png_bytes(Image.new("L", (280, 280), 255)))
    response = post_json("/api/digits/samples", {"image": blank, "label": 3, "label_source": "confirmed"})
    assert response.status_code == 422
    assert not Session.objects.exists() and not Sample.objects.exists()


def _metric(client, name: str) -> float:
    for line in client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_a_prediction_is_counted_once_when_its_drawing_is_then_stored(client, active_version, post_json, seven_url):
    name = f'digitlab_predictions_total{{digit="7",version="{active_version.version}"}}'
    before = _metric(client, name)
    assert post_json("/api/digits/predict", {"image": seven_url}).status_code == 200
    stored = post_json("/api/digits/samples", {"image": seven_url, "label": 7, "label_source": "confirmed"})
    assert stored.status_code == 200, stored.content
    assert _metric(client, name) == before + 1
