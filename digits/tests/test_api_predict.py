import base64

import numpy as np
import pytest
from PIL import Image

from digits.models import Sample
from models.registry import model_version_activate
from models.serving import model_server
from tests.drawings import data_url, png_bytes, seven_png

URL = "/api/digits/predict"
pytestmark = pytest.mark.django_db


def test_it_recognises_a_drawn_seven_and_says_which_model_answered(post_json, active_version, seven_url):
    response = post_json(URL, {"image": seven_url})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["digit"] == 7
    assert len(body["probabilities"]) == 10 and abs(sum(body["probabilities"]) - 1) < 1e-4
    assert body["confidence"] == max(body["probabilities"])
    assert body["model"] == {"version": active_version.version, "sha256": active_version.sha256}
    assert body["activations"] is None
    pixels = np.array(body["input"])
    assert pixels.shape == (28, 28) and pixels.max() == 255 and pixels[0].max() == 0


def test_a_seven_shifted_a_little_stays_a_seven(post_json, active_version):
    for box in [(40, 30, 200, 230), (80, 50, 240, 250), (20, 20, 120, 150)]:
        response = post_json(URL, {"image": data_url(seven_png(box=box))})
        assert response.json()["digit"] == 7


def test_activations_come_compact_for_every_conv_pool_and_dense_layer(post_json, active_version, seven_url):
    body = post_json(URL, {"image": seven_url, "activations": True}).json()
    layers = {layer["name"]: layer for layer in body["activations"]}
    assert list(layers) == ["conv1", "conv2", "pool1", "conv3", "conv4", "pool2", "dense", "output"]
    assert layers["conv1"]["type"] == "Conv2D" and layers["conv1"]["shape"] == [26, 26, 32]
    assert layers["pool2"]["type"] == "MaxPooling2D" and layers["pool2"]["shape"] == [4, 4, 64]
    assert layers["dense"]["shape"] == [128]
    for layer in layers.values():
        data = np.frombuffer(base64.b64decode(layer["data"]), dtype=np.uint8)
        assert data.size == np.prod(layer["shape"])
        assert layer["min"] <= layer["max"]
    # Dequantised output equals the probabilities to within one step.
    out = layers["output"]
    values = out["min"] + np.frombuffer(base64.b64decode(out["data"]), np.uint8) / 255 * (out["max"] - out["min"])
    assert np.allclose(values, body["probabilities"], atol=(out["max"] - out["min"]) / 255 + 1e-6)


def test_activations_of_the_named_layers_only_in_model_order(post_json, active_version, seven_url):
    every = post_json(URL, {"image": seven_url, "activations": True}).json()["activations"]
    body = post_json(URL, {"image": seven_url, "activations": ["pool2", "conv1"]}).json()
    assert [layer["name"] for layer in body["activations"]] == ["conv1", "pool2"]
    same = {layer["name"]: layer for layer in every}
    assert body["activations"] == [same["conv1"], same["pool2"]]
    assert body["explanation"] is None


def test_a_layer_the_model_does_not_have_is_refused_by_name(post_json, active_version, seven_url):
    response = post_json(URL, {"image": seven_url, "activations": ["conv1", "conv9"]})
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_layer"
    assert "conv9" in response.json()["detail"] and "conv1," in response.json()["detail"]


def test_the_next_prediction_uses_a_newly_activated_version(post_json, active_version, register_version, seven_url):
    assert post_json(URL, {"image": seven_url}).json()["model"]["version"] == active_version.version
    newer = model_version_activate(version=register_version(), by="test")
    from models.serving import model_server

    model_server().wait_for(newer.pk)
    assert post_json(URL, {"image": seven_url}).json()["model"]["version"] == newer.version


def test_with_no_model_served_it_answers_503_json(post_json, seven_url):
    response = post_json(URL, {"image": seven_url})
    assert response.status_code == 503
    assert response.json()["code"] == "no_model"


def test_a_blank_canvas_is_not_a_prediction(post_json, active_version):
    blank = data_url(png_bytes(Image.new("RGBA", (280, 280), (0, 0, 0, 0))))
    response = post_json(URL, {"image": blank})
    assert response.status_code == 422
    assert response.json() == {"detail": "Draw a digit first: the canvas is blank.", "code": "blank"}


BAD_INPUTS = {
    "not json": (b"{image: nope", 400),
    "empty body": (b"", 422),
    "json but a list": ([1, 2], 422),
    "missing image": ({"activations": True}, 422),
    "image not a string": ({"image": 7}, 422),
    "not a data url": ({"image": "hello"}, 400),
    "bad base64": ({"image": "data:image/png;base64,iVBOR!!!"}, 400),
    "a gif": ({"image": data_url(png_bytes(Image.new("RGB", (50, 50)), fmt="GIF"), "image/png")}, 400),
    "text as png": ({"image": data_url(b"just some text")}, 400),
    "truncated png": ({"image": data_url(seven_png()[:400])}, 400),
    "too many pixels": ({"image": data_url(png_bytes(Image.new("1", (2000, 2000), 1)))}, 413),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gets_a_4xx_json_message(post_json, active_version, name):
    body, status = BAD_INPUTS[name]
    response = post_json(URL, body)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(post_json, active_version, settings):
    settings.DIGITS_MAX_BODY_BYTES = 10_000
    response = post_json(URL, {"image": data_url(b"\x00" * 20_000)})
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_predicting_stores_nothing(post_json, active_version, seven_url):
    post_json(URL, {"image": seven_url})
    assert Sample.objects.count() == 0


def test_the_explanation_comes_on_request_as_one_map_per_digit_over_the_ink(post_json, active_version, seven_url):
    assert post_json(URL, {"image": seven_url}).json()["explanation"] is None
    body = post_json(URL, {"image": seven_url, "explanation": True}).json()
    why = body["explanation"]
    assert why["method"] == "occlusion" and [m["digit"] for m in why["maps"]] == list(range(10))
    ink = np.array(body["input"]) > 0
    maps = {}
    for m in why["maps"]:
        data = np.frombuffer(base64.b64decode(m["data"]), np.uint8).reshape(28, 28)
        maps[m["digit"]] = (data.astype(float) - 128) / 127 * m["scale"]
        assert not maps[m["digit"]][~ink].any()  # no evidence where there is no ink
        assert data.max() == 255 or data.min() == 1  # each map uses its own full scale
    # The ink as a whole argues for the answer, more than for the runner-up.
    runner_up = int(np.argsort(body["probabilities"])[-2])
    assert maps[body["digit"]].sum() > max(0, maps[runner_up].sum())


def test_confidence_comes_calibrated_with_the_versions_temperature(post_json, register_version, seven_url):
    sharp = model_version_activate(
        version=register_version(metrics={"mnist_accuracy": 0.97, "temperature": 1.0}), by="test"
    )
    body = post_json(URL, {"image": seven_url}).json()
    assert body["model"]["version"] == sharp.version
    assert body["calibrated_probabilities"] == pytest.approx(body["probabilities"], abs=1e-6)
    assert body["calibrated_confidence"] > 0.8 and body["unsure"] is False

    # The same network with a high temperature (an overconfident model):
    # the same digit, tempered probabilities, and the page is told to ask.
    soft = model_version_activate(
        version=register_version(metrics={"mnist_accuracy": 0.97, "temperature": 40.0}), by="test"
    )
    model_server().wait_for(soft.pk)
    body = post_json(URL, {"image": seven_url}).json()
    assert body["model"]["version"] == soft.version and body["digit"] == 7
    calibrated = body["calibrated_probabilities"]
    assert abs(sum(calibrated) - 1) < 1e-6 and int(np.argmax(calibrated)) == 7
    assert body["calibrated_confidence"] == max(calibrated) < body["confidence"]
    assert body["unsure"] is True


def test_staff_may_ask_any_registered_version_and_nobody_else_may(
    post_json, client, active_version, register_version, seven_url, staff_user
):
    candidate = register_version(parent=active_version)
    body = {"image": seven_url, "explanation": True, "version": candidate.version}
    refused = post_json(URL, body)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    client.force_login(staff_user)
    answer = post_json(URL, body).json()
    assert answer["model"] == {"version": candidate.version, "sha256": candidate.sha256}
    assert answer["digit"] == 7 and len(answer["explanation"]["maps"]) == 10
    assert post_json(URL, {**body, "version": 99}).status_code == 404
    served = post_json(URL, {"image": seven_url}).json()["model"]
    assert served["version"] == active_version.version  # without a version: the served one, as for anyone


def test_every_answer_matches_the_documented_schema(post_json, active_version, seven_url):
    # The view encodes its answer itself, past ninja's response validation.
    from digits.api import PredictOut

    for extra in ({}, {"activations": True}, {"explanation": True}):
        body = post_json(URL, {"image": seven_url, **extra}).json()
        PredictOut.model_validate(body)  # raises on a missing or mistyped field
        assert set(body) == set(PredictOut.model_fields)
        assert all(isinstance(row, list) and len(row) == 28 for row in body["input"])
