"""Approved drawings as a NumPy ``.npz`` (``x`` uint8 (N, 28, 28), ``y`` uint8
(N,), and ``ids``, the sample each row came from), for training elsewhere or
sharing a data set."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
from django.db.models import QuerySet

from .models import Sample
from .selectors import approved_samples, samples_arrays


def samples_export_npz(*, target: str | Path | BinaryIO, samples: QuerySet[Sample] | None = None) -> int:
    """Write the approved drawings among ``samples`` (default: all of them) to
    ``target`` (a path or a binary file); returns how many were written."""
    chosen = approved_samples() if samples is None else samples.filter(status=Sample.Status.APPROVED)
    x, y, ids = samples_arrays(chosen)
    if isinstance(target, str | Path):
        # np.savez_compressed appends ".npz" to a path without it; write through a file to keep the name asked for.
        with open(target, "wb") as file:
            np.savez_compressed(file, x=x, y=y, ids=ids)
    else:
        np.savez_compressed(target, x=x, y=y, ids=ids)
    return len(y)


def samples_export_npz_bytes(*, samples: QuerySet[Sample] | None = None) -> tuple[bytes, int]:
    buffer = io.BytesIO()
    count = samples_export_npz(target=buffer, samples=samples)
    return buffer.getvalue(), count
