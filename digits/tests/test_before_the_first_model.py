"""Before the first model is served (a fresh start trains it in the worker):
predict says so with Retry-After, a labelled drawing is still kept, and the
drawing page says the first model is training."""

import pytest

from digits.models import Sample

PREDICT = "/api/digits/predict"
SAMPLES = "/api/digits/samples"

pytestmark = pytest.mark.django_db


def test_predict_answers_503_with_retry_after_and_a_clear_message(post_json, seven_url):
    response = post_json(PREDICT, {"image": seven_url})
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["code"] == "no_model"
    assert body["detail"].startswith("No model is being served yet: the first model is still training or loading")
    assert body["detail"].endswith("Please retry in 5 seconds.")
    assert not Sample.objects.exists()


def test_once_a_version_is_active_predict_answers_without_retry_after(post_json, seven_url, active_version):
    response = post_json(PREDICT, {"image": seven_url})
    assert response.status_code == 200 and "Retry-After" not in response
    assert response.json()["model"]["version"] == active_version.version


def test_a_labelled_drawing_is_kept_without_a_prediction(post_json, seven_url):
    # The label is what training needs; what the model said is recorded when there is a model.
    response = post_json(SAMPLES, {"image": seven_url, "label": 7, "label_source": "confirmed"})
    assert response.status_code == 200, response.content
    sample = Sample.objects.get(pk=response.json()["id"])
    assert (sample.label, sample.predicted, sample.model_version) == (7, None, None)


def test_the_page_says_the_first_model_is_training_only_while_none_is_active(client, register_version):
    from models.registry import model_version_activate

    page = client.get("/")
    assert page.status_code == 200
    assert b'id="first-model"' in page.content and b"The first model is training" in page.content
    assert b'data-url="/api/training/first-model"' in page.content

    model_version_activate(version=register_version(), by="test")
    assert b'id="first-model"' not in client.get("/").content
