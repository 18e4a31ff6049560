"""Writes of collected drawings."""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from models.serving import NoModelError, model_server

from .models import Sample
from .preprocessing import drawing_to_mnist

log = logging.getLogger(__name__)


class InvalidLabel(ValueError):
    pass


def _extension(image: bytes) -> str:
    return "jpg" if image[:3] == b"\xff\xd8\xff" else "png"


def sample_create(*, image: bytes, label: int, label_source: str, client_id: str) -> Sample:
    """Store a labelled drawing with what the served model predicted for it.

    The same drawing sent again by the same person (a double click, a retry)
    returns the sample stored the first time.  A drawing that cannot be used
    raises preprocessing's DrawingError and stores nothing.  With no model
    served the drawing is still kept, without a prediction: the label is what
    matters for training."""
    if label not in range(10):
        raise InvalidLabel("The label must be a digit 0-9.")
    if label_source not in Sample.LabelSource.values:
        raise InvalidLabel(f"How it was labelled must be one of {', '.join(Sample.LabelSource.values)}.")
    digest = hashlib.sha256(image).hexdigest()
    existing = Sample.objects.filter(client_id=client_id, image_sha256=digest).first()
    if existing:
        return existing

    pixels = drawing_to_mnist(image, max_pixels=settings.DIGITS_MAX_PIXELS)
    try:
        served = model_server().get()
    except NoModelError:
        prediction, version_id = None, None
    else:
        prediction, version_id = served.predictor.predict(pixels), served.version_id

    sample = Sample(
        image_sha256=digest,
        pixels=pixels.tobytes(),
        label=label,
        label_source=label_source,
        predicted=prediction.digit if prediction else None,
        confidence=prediction.confidence if prediction else None,
        probabilities=[float(p) for p in prediction.probabilities] if prediction else [],
        model_version_id=version_id,
        client_id=client_id,
    )
    sample.image.save(f"{digest[:32]}.{_extension(image)}", ContentFile(image), save=False)
    try:
        with transaction.atomic():
            sample.save()
    except IntegrityError:
        # Two requests with the same drawing raced past the lookup above; the
        # unique constraint let one in.  Drop this file and return that one.
        sample.image.delete(save=False)
        return Sample.objects.get(client_id=client_id, image_sha256=digest)
    log.info("Sample %s stored: label %s (%s), predicted %s", sample.pk, label, label_source, sample.predicted)
    return sample
