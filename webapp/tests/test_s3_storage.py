"""Drawings and model artifacts in an S3-compatible bucket (S3_STORAGE_URL,
django-storages), against a real S3 API: moto's server, over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import boto3
import pytest
import requests

from digits.models import Sample
from tests.drawings import data_url, seven_png
from webapp.s3 import S3UrlError, s3_storages

KEY, SECRET, BUCKET = "digitlab", "not-a-real-secret", "digitlab-test"


def test_the_url_names_endpoint_bucket_credentials_and_region():
    entries = s3_storages("https://AK%2Fx:s3cr%40t@minio.example.org:9000/lab?region=eu-west-1")
    options = entries["artifacts"]["OPTIONS"]
    assert entries["default"]["BACKEND"] == entries["artifacts"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert (options["endpoint_url"], options["bucket_name"], options["region_name"]) == (
        "https://minio.example.org:9000",
        "lab",
        "eu-west-1",
    )
    assert (options["access_key"], options["secret_key"]) == ("AK/x", "s3cr@t")
    assert (entries["default"]["OPTIONS"]["location"], options["location"]) == ("media", "artifacts")
    aws = s3_storages("s3://AK:SK@lab")["default"]["OPTIONS"]
    assert aws["endpoint_url"] is None and aws["bucket_name"] == "lab"


@pytest.mark.parametrize("url", ["ftp://k:s@host/bucket", "https://k:s@host/", "https://k:s@host/a/b"])
def test_a_url_without_one_bucket_is_refused(url):
    with pytest.raises(S3UrlError):
        s3_storages(url)


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server in its own process, on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(endpoint, timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or slow to answer at first
                assert time.monotonic() < deadline, "moto's server did not start"
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def bucket(s3_server, settings):
    client = boto3.client(
        "s3", endpoint_url=s3_server, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1"
    )
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {**settings.STORAGES, **s3_storages(f"http://{KEY}:{SECRET}@{s3_server[7:]}/{BUCKET}")}
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _keys(client) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_the_served_model_and_the_drawings_live_in_the_bucket(bucket, register_version, client):
    from models.registry import model_version_activate

    seven_url = data_url(seven_png())

    def post_json(path: str, body: dict):
        return client.post(path, data=body, content_type="application/json")

    version = model_version_activate(version=register_version(), by="test")
    assert sorted(_keys(bucket)) == sorted(
        [f"artifacts/{version.artifact.name}", f"artifacts/{version.litert_artifact.name}"]
    )

    # The served model is read back from the bucket (and its sha256 verified).
    predicted = post_json("/api/digits/predict", {"image": seven_url})
    assert predicted.status_code == 200 and predicted.json()["model"]["sha256"] == version.sha256

    stored = post_json("/api/digits/samples", {"image": seven_url, "label": 7, "label_source": "confirmed"})
    assert stored.status_code == 200, stored.content
    sample = Sample.objects.get(id=stored.json()["id"])
    assert f"media/{sample.image.name}" in _keys(bucket)
    body = bucket.get_object(Bucket=BUCKET, Key=f"media/{sample.image.name}")["Body"].read()
    with sample.image.open("rb") as fh:
        assert fh.read() == body and body.startswith(b"\x89PNG")
