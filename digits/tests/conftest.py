"""Shared fixtures of the digits tests: drawings as the page sends them and
JSON posts (the drawing API), and stored samples.  The named users are in the
root conftest.py."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime

import numpy as np
import pytest
from django.core.files.base import ContentFile
from PIL import Image

from digits.models import Sample, SampleDayTally, SampleTally
from digits.tallies import tallies_rebuild
from tests.drawings import data_url, seven_png


def tallies() -> tuple[dict, dict]:
    """The kept counts, as {(status, label, predicted): n} and {(day, status): n}."""
    keys = {(t.status, t.label, t.predicted): t.n for t in SampleTally.objects.all() if t.n}
    days = {(t.day, t.status): t.n for t in SampleDayTally.objects.all() if t.n}
    return keys, days


def recounted() -> tuple[dict, dict]:
    """The counts as a recount of the drawings gives them."""
    tallies_rebuild()
    return tallies()


@pytest.fixture
def seven_url() -> str:
    return data_url(seven_png())


@pytest.fixture
def post_json(client):
    """POST a JSON body (or raw bytes/str) through the whole Django stack."""

    def post(path: str, body, **extra):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return client.post(path, data=data, content_type="application/json", **extra)

    return post


def png_bytes(pixels: np.ndarray, size: int = 280) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").resize((size, size)).save(buffer, format="PNG")
    return buffer.getvalue()


def digit_pixels(seed: int) -> np.ndarray:
    """A 28x28 uint8 picture, different for each seed (a bar and a blob)."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((28, 28), dtype=np.uint8)
    column = 6 + seed % 16
    pixels[4:24, column : column + 3] = 255
    pixels[rng.integers(4, 24, 20), rng.integers(4, 24, 20)] = 200
    return pixels


@pytest.fixture
def make_sample(db):
    """Store a collected drawing: a real PNG file, its 784 pixels and a prediction."""
    counter = iter(range(1, 1_000_000))

    def make(
        *,
        label: int = 7,
        predicted: int | None = 7,
        status: str = Sample.Status.PENDING,
        label_source: str = Sample.LabelSource.CONFIRMED,
        client_id: str = "client-a",
        created_at: datetime | None = None,
        **fields,
    ) -> Sample:
        n = next(counter)
        pixels = digit_pixels(n * 31 + label)
        png = png_bytes(pixels)
        probabilities = [0.01] * 10
        if predicted is not None:
            probabilities[predicted] = 0.91
        sample = Sample(
            image_sha256=hashlib.sha256(png + str(n).encode()).hexdigest(),
            pixels=pixels.tobytes(),
            label=label,
            label_source=label_source,
            predicted=predicted,
            confidence=0.91 if predicted is not None else None,
            probabilities=probabilities if predicted is not None else [],
            client_id=client_id,
            status=status,
            **fields,
        )
        sample.image.save(f"{n}.png", ContentFile(png), save=False)
        sample.save()
        if created_at is not None:  # auto_now_add ignores a value given on create
            Sample.objects.filter(id=sample.id).update(created_at=created_at)
            sample.refresh_from_db()
        # Stored behind the services' back, so recount what they keep in step.
        tallies_rebuild()
        return sample

    return make
