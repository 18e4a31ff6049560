"""Hostile input against the whole JSON API, through the real WSGI application
(middleware, CSRF and sessions included): every operation of the OpenAPI
schema fuzzed by schemathesis, anonymously and as a reviewer, and hand-made
attacks the schema cannot describe (decompression bombs, other formats,
broken PNGs, odd JSON, huge bodies, repeats).

Two rules hold for every request: no 5xx, and a refused request (4xx)
leaves the stored data exactly as it was: samples, their reviews, media files.

Complements digits/tests/test_api_predict.py and test_api_samples.py, which
cover the everyday mistakes (missing fields, bad base64, a GIF, a truncated
PNG, a plain pixel-limit overflow, a label out of range)."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import strategies as st
from PIL import Image
from werkzeug.test import Client as WsgiClient

from digits.models import Sample, SampleReview
from digits.services import sample_create, sample_decide
from tests.drawings import data_url, png_bytes, seven_png
from training.models import TrainingRun
from webapp.wsgi import application

PREDICT, SAMPLES = "/api/digits/predict", "/api/digits/samples"
CSRF_TOKEN = "fuzzfuzz" * 4  # any 32 characters of [a-zA-Z0-9] make a valid unmasked token

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)

# Bounded and reproducible: the same cases on every run, no deadline (the
# first predict loads TensorFlow), and function-scoped fixtures (the
# database, the reviewer) shared by the examples of one operation on purpose.
fuzz_settings = hypothesis.settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _wsgi_inside_the_test_transaction():
    """The WSGI handler closes "old" database connections at the start and end
    of each request; inside a test's transaction that would roll it back.
    Django's own test client switches this off the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def stored(media_root: Path) -> tuple:
    """Everything a request could have stored: samples and their state, review
    decisions, and the files under MEDIA_ROOT."""
    samples = tuple(Sample.objects.order_by("id").values_list("id", "status", "label", "reviewed_by_id"))
    reviews = tuple(SampleReview.objects.order_by("id").values_list("id", "action"))
    files = tuple(sorted(str(p) for p in media_root.rglob("*") if p.is_file()))
    return samples, reviews, files


@pytest.fixture
def media_root(settings) -> Path:
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def browser_cookies() -> dict[str, str]:
    return {"csrftoken": CSRF_TOKEN}


@pytest.fixture
def reviewer_cookies(reviewer) -> dict[str, str]:
    """A logged-in session of Rita, the reviewer."""
    browser = Client()
    browser.force_login(reviewer)
    return {"csrftoken": CSRF_TOKEN, "sessionid": browser.cookies["sessionid"].value}


@pytest.fixture
def pending_sample_ids(active_version) -> list[int]:
    """Three drawings waiting for review, with the served model's prediction."""
    boxes = [(60, 40, 220, 240), (40, 30, 200, 230), (80, 50, 240, 250)]
    return [
        sample_create(image=seven_png(box=box), label=7, label_source="confirmed", client_id="fuzz").id for box in boxes
    ]


def call_and_check(case, media_root: Path, cookies: dict[str, str]):
    """Send the case through the WSGI app; no 5xx; a refusal stores nothing.

    Only not_a_server_error is asked of schemathesis: ninja answers its own
    validation errors with a 422 that the schema does not declare, and the
    predict/samples operations declare an error shape that ninja's 422 does
    not follow, so status and response-schema conformance would fail on
    design rather than on bugs."""
    before = stored(media_root)
    response = case.call_and_validate(
        headers={"X-CSRFToken": CSRF_TOKEN},
        cookies=cookies,
        checks=[schemathesis.checks.not_a_server_error],
    )
    if response.status_code >= 400:
        assert stored(media_root) == before, f"{case.method} {case.path} answered {response.status_code} but stored"
    return response


@pytest.mark.slow
@schema.parametrize()
@fuzz_settings
def test_no_operation_fails_or_stores_a_refused_request_for_a_visitor(
    case, active_version, media_root, browser_cookies
):
    call_and_check(case, media_root, browser_cookies)


@pytest.mark.slow
@schema.parametrize()
@fuzz_settings
def test_no_operation_fails_or_stores_a_refused_request_for_a_reviewer(
    case, active_version, media_root, reviewer_cookies, pending_sample_ids, django_user_model
):
    # A random sample id is almost never a real one: point integer ids at the
    # pending drawings so decisions get past the 404, and leave Rita a
    # decision to undo.
    sample_id = (case.path_parameters or {}).get("sample_id")
    if isinstance(sample_id, int) and not isinstance(sample_id, bool):
        case.path_parameters["sample_id"] = pending_sample_ids[sample_id % len(pending_sample_ids)]
    if case.path == "/api/review/undo" and not SampleReview.objects.exists():
        rita = django_user_model.objects.get(username="rita")
        sample_decide(sample=Sample.objects.get(id=pending_sample_ids[0]), action="approve", label=None, reviewer=rita)
    TrainingRun.objects.get_or_create(trigger=TrainingRun.Trigger.MANUAL, defaults={"requested_by": "rita"})
    call_and_check(case, media_root, reviewer_cookies)


# --- hand-made hostile input --------------------------------------------------


def poster(cookies: dict[str, str]):
    """POST raw bytes or JSON through the WSGI app with these cookies and the CSRF header."""
    client = WsgiClient(application)
    for name, value in cookies.items():
        client.set_cookie(name, value)

    def post(path: str, body, content_type: str = "application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return client.post(path, data=data, content_type=content_type, headers={"X-CSRFToken": CSRF_TOKEN})

    return post


@pytest.fixture
def api(browser_cookies):
    return poster(browser_cookies)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, *, mode: int = 0) -> bytes:
    """A valid PNG header for a grayscale image of any size, with a few
    compressed bytes of its first row: a decompression bomb costs nothing to send."""
    header = struct.pack(">IIBBBBB", width, height, 8, mode, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + png_chunk(b"IEND", b"")
    )


def thin_strip(width: int) -> bytes:
    """A dark dashed line one pixel high on white: within the pixel limit when
    it is up to a million wide, a few hundred bytes as a PNG."""
    image = Image.new("L", (width, 1), 255)
    for x in range(0, width, 7):
        image.putpixel((x, 0), 0)
    return png_bytes(image)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header claims another size."""
    data = bytearray(png_bytes(Image.new("L", (16, 16), 128), fmt="JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bad_crc(png: bytes) -> bytes:
    broken = bytearray(png)
    broken[29] ^= 0xFF  # the last byte of IHDR's CRC
    return bytes(broken)


def other_format(fmt: str) -> bytes:
    return seven_png(transparent=False, fmt=fmt)


def cmyk_jpeg() -> bytes:
    return png_bytes(Image.open(io.BytesIO(other_format("PNG"))).convert("CMYK"), fmt="JPEG")


IMAGES = {
    "png declaring 50000x50000 (decompression bomb)": (data_url(png_declaring(50_000, 50_000)), 413),
    "png declaring 1100x1000, no pixels": (data_url(png_declaring(1100, 1000)), 413),
    "png one pixel high and a million wide": (data_url(thin_strip(1_048_576)), 413),
    "png one pixel high and 5000 wide": (data_url(thin_strip(5000)), 413),
    "jpeg declaring 60000x60000": (data_url(jpeg_declaring(60_000, 60_000), "image/jpeg"), 413),
    "gif as a gif data url": (data_url(other_format("GIF"), "image/gif"), 400),
    "bmp labelled png": (data_url(other_format("BMP")), 400),
    "webp labelled png": (data_url(other_format("WEBP")), 400),
    "tiff labelled jpeg": (data_url(other_format("TIFF"), "image/jpeg"), 400),
    "svg data url": (data_url(b'<svg xmlns="http://www.w3.org/2000/svg"><text>7</text></svg>', "image/svg+xml"), 400),
    "svg labelled png": (data_url(b'<svg xmlns="http://www.w3.org/2000/svg"><text>7</text></svg>'), 400),
    "png signature only": (data_url(seven_png()[:8]), 400),
    "png cut after its header": (data_url(seven_png()[:33]), 400),
    "png with a bad header crc": (data_url(bad_crc(seven_png())), 400),
    "empty data url": ("data:image/png;base64,", 400),
    "base64 with line breaks": (data_url(seven_png()).replace("A", "A\n", 3), 400),
    "unicode in the base64": ("data:image/png;base64,iVBORw0K\u00e9\u4e03\U0001f600", 400),
    "nul characters": ("data:image/png;base64,\x00\x00", 400),
    "lone surrogate": ("data:image/png;base64,\ud800", 400),
    "javascript url": ("javascript:alert(1)", 400),
    "16-bit grayscale png": (data_url(png_bytes(Image.new("I;16", (280, 280), 65535))), 422),
    "a seven as a cmyk jpeg": (data_url(cmyk_jpeg(), "image/jpeg"), 200),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(IMAGES))
def test_a_hostile_image_is_refused_cleanly_and_stores_nothing(api, active_version, media_root, name):
    image, status = IMAGES[name]
    before = stored(media_root)
    predicted = api(PREDICT, {"image": image})
    assert predicted.status_code == status, predicted.get_data()
    kept = api(SAMPLES, {"image": image, "label": 7, "label_source": "confirmed"})
    assert kept.status_code == status, kept.get_data()
    if status != 200:
        assert predicted.json["detail"] and kept.json["detail"]
        assert stored(media_root) == before


BODIES = {
    "label as a string": ({"label": "7"}, 422),
    "label as a float": ({"label": 7.0}, 422),
    "label as a bool": ({"label": True}, 422),
    "label a huge integer": ({"label": 10**40}, 422),
    "label null": ({"label": None}, 422),
    "label a list": ({"label": [7]}, 422),
    "label an object": ({"label": {"$gt": 1}}, 422),
    "label source with a nul": ({"label_source": "confirmed\x00"}, 422),
    "label source in unicode": ({"label_source": "c\u00f6nfirmed"}, 422),
    "image a list": ({"image": ["data:image/png;base64,"]}, 422),
    "image null": ({"image": None}, 422),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BODIES))
def test_a_field_of_the_wrong_type_is_refused_and_stores_nothing(api, active_version, media_root, name):
    change, status = BODIES[name]
    before = stored(media_root)
    body = {"image": data_url(seven_png()), "label": 7, "label_source": "confirmed", **change}
    response = api(SAMPLES, body)
    assert response.status_code == status, response.get_data()
    assert stored(media_root) == before


RAW_BODIES = {
    "json nested 10000 deep": (b"[" * 10_000 + b"]" * 10_000, 400),
    "an object nested 10000 deep": (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 400),
    "not utf-8": (b'\xff\xfe{"image": "x"}', 400),
    "a bare null": (b"null", 422),
    "a bare string": (b'"data:image/png;base64,"', 422),
    "a number too large for a float": (b'{"image": 1e999, "label": 7, "label_source": "confirmed"}', 422),
    "NaN": (b'{"image": NaN, "label": 7, "label_source": "confirmed"}', 422),
    "duplicate keys": (b'{"image": "x", "image": 7, "label": 7, "label_source": "confirmed"}', 422),
    "2 MB of json": (json.dumps({"image": "data:image/png;base64," + "A" * 2_000_000}).encode(), 413),
}


@pytest.mark.parametrize("name", list(RAW_BODIES))
@pytest.mark.parametrize("path", [PREDICT, SAMPLES])
def test_a_malformed_body_is_refused_and_stores_nothing(api, media_root, path, name):
    body, status = RAW_BODIES[name]
    before = stored(media_root)
    response = api(path, body)
    assert response.status_code == status, response.get_data()[:500]
    assert stored(media_root) == before


def test_a_form_encoded_body_is_refused(api, media_root):
    response = api(SAMPLES, b"image=x&label=7&label_source=confirmed", "application/x-www-form-urlencoded")
    assert 400 <= response.status_code < 500
    assert stored(media_root) == ((), (), ())


@pytest.mark.slow
def test_a_huge_body_to_a_review_decision_is_refused(media_root, reviewer_cookies, pending_sample_ids):
    """The review API has no body limit of its own; Django's (2.5 MB) answers."""
    before = stored(media_root)
    url = f"/api/review/samples/{pending_sample_ids[0]}/decision"
    response = poster(reviewer_cookies)(url, {"action": "relabel", "label": 1, "padding": "x" * 3_000_000})
    assert response.status_code == 400
    assert stored(media_root) == before


@pytest.mark.slow
@pytest.mark.parametrize("label", [True, "3", 3.0, 10**40, -1])
def test_a_relabel_to_something_not_a_digit_is_refused(media_root, reviewer_cookies, pending_sample_ids, label):
    before = stored(media_root)
    url = f"/api/review/samples/{pending_sample_ids[0]}/decision"
    response = poster(reviewer_cookies)(url, {"action": "relabel", "label": label})
    assert response.status_code == 422
    assert stored(media_root) == before


@pytest.mark.slow
def test_repeating_a_request_gives_the_same_answer_and_one_sample(api, active_version, media_root):
    body = {"image": data_url(seven_png()), "label": 7, "label_source": "confirmed"}
    answers = {json.dumps(api(PREDICT, body).json, sort_keys=True) for _ in range(20)}
    assert len(answers) == 1
    ids = {api(SAMPLES, body).json["id"] for _ in range(20)}
    assert len(ids) == 1 and Sample.objects.count() == 1

    refused = {**body, "label": 10}
    before = stored(media_root)
    assert {api(SAMPLES, refused).status_code for _ in range(20)} == {422}
    assert stored(media_root) == before


SEVEN = seven_png()


@st.composite
def damaged_pngs(draw) -> bytes:
    """The seven's PNG with a few bytes overwritten, then perhaps cut short."""
    data = bytearray(SEVEN)
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(1, len(data)))])


@pytest.mark.slow
@hypothesis.given(png=damaged_pngs())
@hypothesis.settings(
    max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
def test_a_damaged_png_is_either_read_or_refused_and_never_half_stored(api, active_version, media_root, png):
    before = stored(media_root)
    response = api(SAMPLES, {"image": data_url(png), "label": 3, "label_source": "corrected"})
    assert response.status_code in (200, 400, 413, 422), response.get_data()
    if response.status_code != 200:
        assert stored(media_root) == before
