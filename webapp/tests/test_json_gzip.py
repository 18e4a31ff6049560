"""The API's larger JSON answers are gzipped for clients that accept it
(webapp.middleware.JsonGzipMiddleware); small answers and HTML pages, which
carry the CSRF token (BREACH), are not."""

import gzip
import json

import pytest

from tests.drawings import data_url, seven_png
from webapp.middleware import JsonGzipMiddleware

pytestmark = pytest.mark.django_db
GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}


@pytest.fixture
def post_json(client):
    def post(path: str, body: dict, **extra):
        return client.post(path, data=json.dumps(body), content_type="application/json", **extra)

    return post


def test_a_large_json_answer_is_gzipped_for_a_client_that_accepts_it(client):
    plain = client.get("/api/openapi.json")
    packed = client.get("/api/openapi.json", **GZIP)
    assert "Content-Encoding" not in plain
    assert packed["Content-Encoding"] == "gzip"
    assert int(packed["Content-Length"]) == len(packed.content) < len(plain.content) / 3
    assert json.loads(gzip.decompress(packed.content)) == plain.json()
    assert "Accept-Encoding" in packed["Vary"] and "Accept-Encoding" in plain["Vary"]


def test_the_predict_answer_is_gzipped(post_json, active_version):
    seven_url = data_url(seven_png())
    plain = post_json("/api/digits/predict", {"image": seven_url})
    packed = post_json("/api/digits/predict", {"image": seven_url}, **GZIP)
    assert len(plain.content) > JsonGzipMiddleware.MIN_BYTES
    assert packed["Content-Encoding"] == "gzip"
    assert len(packed.content) < len(plain.content) / 2
    assert json.loads(gzip.decompress(packed.content))["input"] == plain.json()["input"]


def test_a_small_json_answer_is_left_alone(post_json):
    response = post_json("/api/digits/predict", {"image": "not a data url"}, **GZIP)
    assert response.status_code == 400
    assert len(response.content) < JsonGzipMiddleware.MIN_BYTES
    assert "Content-Encoding" not in response
    assert response.json()["code"] == "bad_image"


def test_a_page_with_a_csrf_token_is_never_compressed(client):
    response = client.get("/", **GZIP)
    assert response.status_code == 200
    assert len(response.content) > JsonGzipMiddleware.MIN_BYTES
    assert b"csrfmiddlewaretoken" in response.content  # the secret BREACH would recover
    assert "Content-Encoding" not in response
