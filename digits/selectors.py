"""Reads of collected drawings: what collect mode asks for, the arrays that
training and the export learn from, and how the versions read the drawings
(readings, the scoreboard).  The review queue and the statistics staff see
are digits/review/selectors.py."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Q, QuerySet

from .models import Contributor, Sample, SampleReading
from .preprocessing import pixels_decode_many

# "The prediction disagrees with the label" is defined once, as the stored
# column Sample.disagrees (the database computes it); these name it for filters.
# Samples saved without a prediction neither disagree nor agree.
DISAGREES = Q(disagrees=True)
AGREES = Q(predicted__isnull=False, disagrees=False)

# --- what collect mode asks for -----------------------------------------------


@dataclass(frozen=True)
class DigitErrors:
    digit: int
    drawings: int  # recent approved drawings of this digit that the version predicted
    wrong: int

    @property
    def rate(self) -> float:
        return self.wrong / self.drawings if self.drawings else 0.0


def digit_errors_recent(*, model_version_id: int, recent: int = 500) -> list[DigitErrors]:
    """Per digit (by reviewed label), how often ``model_version_id`` read it
    wrong among the ``recent`` newest approved drawings it predicted; digits
    with no such drawing are left out."""
    newest = (
        Sample.objects.filter(status=Sample.Status.APPROVED, model_version_id=model_version_id)
        .order_by("-id")
        .values("id")[:recent]
    )
    rows = (
        Sample.objects.filter(id__in=newest)
        .order_by()
        .values("label")
        .annotate(drawings=Count("id"), wrong=Count("id", filter=DISAGREES))
    )
    return [DigitErrors(row["label"], row["drawings"], row["wrong"]) for row in sorted(rows, key=lambda r: r["label"])]


# --- how each version did on the drawings it predicted (the /models/ page) ----


@dataclass(frozen=True)
class DrawingsOfVersion:
    predicted: int  # drawings this version predicted when they were stored
    checked: int  # of those, approved by a reviewer (their label is trusted)
    right: int  # of the checked, those it predicted right


def drawings_per_model_version() -> dict[int, DrawingsOfVersion]:
    """How each model version did on the drawings it predicted, by version id."""
    approved = Q(status=Sample.Status.APPROVED)
    rows = (
        Sample.objects.filter(model_version__isnull=False)
        .order_by()
        .values_list("model_version")
        .annotate(n=Count("id"), n_checked=Count("id", filter=approved), n_right=Count("id", filter=approved & AGREES))
    )
    return {version_id: DrawingsOfVersion(*counts) for version_id, *counts in rows}


# --- data for training and the export ---------------------------------------


@dataclass(frozen=True)
class DrawingArrays:
    x: np.ndarray  # uint8 (N, 28, 28); memory-mapped from x.npy when loaded into a folder
    y: np.ndarray  # uint8 (N,)
    ids: np.ndarray  # int64 (N,), the sample each row came from

    def __iter__(self):  # x, y, ids = samples_arrays(...)
        return iter((self.x, self.y, self.ids))


def samples_arrays(samples: QuerySet[Sample], *, folder: Path | None = None, chunk_size: int = 5000) -> DrawingArrays:
    """``samples`` as arrays, streamed in chunks so memory does not grow
    with the table: with ``folder`` the images are written to ``x.npy`` there
    and come back memory-mapped (``y.npy`` and ``ids.npy`` beside it), in
    the order the table gives them; otherwise into memory, in id order.

    On PostgreSQL the rows come through one ``COPY ... TO STDOUT (FORMAT
    binary)`` into a scratch file, whose fixed-size records are read back in
    chunks (a server-side cursor moves the same bytes as hex text and costs
    a Python step per row: about three times slower here); elsewhere through
    a server-side cursor in chunks.  The rows are those counted at the
    start: a drawing decided while this reads waits for the next load."""
    n = samples.count()
    sink = _ArraySink(n, folder)
    rows = samples.order_by().values_list("id", "pixels", "label")
    try:
        if not n:
            pass  # nothing to read (and an empty id__in has no SQL to copy)
        elif connection.vendor == "postgresql":
            _copy_binary_into(sink, rows, chunk_size * 10)
        else:
            _cursor_into(sink, rows.order_by("id"), chunk_size)
    finally:
        sink.close()
    out = sink.arrays()
    if folder is None and not np.all(out.ids[1:] > out.ids[:-1]):
        order = np.argsort(out.ids, kind="stable")
        out = DrawingArrays(out.x[order], out.y[order], out.ids[order])
    return out


class _ArraySink:
    """Chunks in arrival order, into memory or appended to ``folder/x.npy``
    (written through the file, so the process never holds the whole array)."""

    def __init__(self, n: int, folder: Path | None):
        self.n, self.folder, self.filled = n, folder, 0
        self.y, self.ids = np.empty(n, dtype=np.uint8), np.empty(n, dtype=np.int64)
        self.x = self.file = None
        if folder is None:
            self.x = np.empty((n, 28, 28), dtype=np.uint8)
            return
        folder.mkdir(parents=True, exist_ok=True)
        self.file = open(folder / "x.npy", "wb")  # noqa: SIM115 (closed in close())
        np.lib.format.write_array_header_1_0(self.file, {"descr": "|u1", "fortran_order": False, "shape": (n, 28, 28)})

    def room(self) -> int:
        return self.n - self.filled

    def put(self, x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> None:
        end = self.filled + len(y)
        self.y[self.filled : end], self.ids[self.filled : end] = y, ids
        if self.file is None:
            self.x[self.filled : end] = x
        else:
            self.file.write(np.ascontiguousarray(x, dtype=np.uint8).tobytes())
        self.filled = end

    def close(self) -> None:
        if self.file is not None:
            # Fewer rows than counted (decided away meanwhile): the header says n, the file ends early.
            self.file.truncate(self.file.tell() + (self.n - self.filled) * 784)
            self.file.close()

    def arrays(self) -> DrawingArrays:
        y, ids = self.y[: self.filled], self.ids[: self.filled]
        if self.folder is None:
            return DrawingArrays(self.x[: self.filled], y, ids)
        np.save(self.folder / "y.npy", y)
        np.save(self.folder / "ids.npy", ids)
        return DrawingArrays(np.load(self.folder / "x.npy", mmap_mode="r")[: self.filled], y, ids)


def _cursor_into(sink: _ArraySink, rows: QuerySet, chunk_size: int) -> None:
    stream = rows.iterator(chunk_size=chunk_size)
    while sink.room():
        chunk = list(islice(stream, min(chunk_size, sink.room())))
        if not chunk:
            break
        ids, pixels, labels = zip(*chunk, strict=True)
        sink.put(pixels_decode_many(list(pixels)), np.array(labels), np.array(ids))
    stream.close()


# One row of PostgreSQL's binary COPY of (id bigint, pixels bytea, label smallint).
_COPY_HEADER = 19
_COPY_RECORD = np.dtype(
    [
        ("fields", ">i2"),
        ("id_size", ">i4"),
        ("id", ">i8"),
        ("pixels_size", ">i4"),
        ("pixels", "u1", (28, 28)),
        ("label_size", ">i4"),
        ("label", ">i2"),
    ]
)


def _copy_binary_into(sink: _ArraySink, rows: QuerySet, chunk_size: int) -> None:
    """COPY the rows into a scratch file (psycopg2 writes it without a Python
    step per row), then read its fixed-size records back chunk by chunk."""
    sql, params = rows.query.sql_with_params()
    with tempfile.TemporaryFile(dir=sink.folder) as raw:
        with connection.cursor() as cursor:
            query = cursor.mogrify(sql, params)
            query = query.decode() if isinstance(query, bytes) else query
            cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT binary)", raw)
        raw.seek(_COPY_HEADER)
        buffer = bytearray(chunk_size * _COPY_RECORD.itemsize)
        while sink.room():
            size = raw.readinto(buffer)
            count = min(size // _COPY_RECORD.itemsize, sink.room())
            if not count:
                break
            records = np.frombuffer(buffer, dtype=_COPY_RECORD, count=count)
            if not (np.all(records["pixels_size"] == 784) and np.all(records["fields"] == 3)):
                raise ValueError("stored pixels must be 784 bytes each")
            sink.put(records["pixels"], records["label"], records["id"])
            del records


def approved_samples() -> QuerySet[Sample]:
    return Sample.objects.filter(status=Sample.Status.APPROVED)


def trainable_samples() -> QuerySet[Sample]:
    """What training may learn from: approved drawings, and pending ones too
    when ``settings.TRAIN_INCLUDE_PENDING`` is set, except those the triage
    or a contributor's quarantine holds out; never rejected ones."""
    if not settings.TRAIN_INCLUDE_PENDING:
        return Sample.objects.filter(status=Sample.Status.APPROVED)
    held = Q(triage=Sample.Triage.QUARANTINED) | Q(
        client_id__in=Contributor.objects.filter(quarantined=True).values("client_id")
    )
    pending = Q(status=Sample.Status.PENDING) & ~held
    return Sample.objects.filter(Q(status=Sample.Status.APPROVED) | pending)


# A person decided it (approved or rejected, not by the triage): drawings
# approved before the triage existed count as decided by a person.
DECIDED_BY_PERSON = Q(status__in=[Sample.Status.APPROVED, Sample.Status.REJECTED]) & ~Q(
    triage=Sample.Triage.AUTO_APPROVED
)


# --- readings: a drawing's history, versions against each other ----------------


@dataclass(frozen=True)
class Reading:
    version: int  # the version's number (v3)
    predicted: int
    confidence: float


def sample_histories_get(*, sample_ids: Iterable[int]) -> dict[int, list[Reading]]:
    """How each stored version read each of these drawings, oldest version first."""
    histories: dict[int, list[Reading]] = {}
    rows = (
        SampleReading.objects.filter(sample_id__in=list(sample_ids))
        .order_by("sample_id", "version__version")
        .values_list("sample_id", "version__version", "predicted", "confidence")
    )
    for sample_id, version, predicted, confidence in rows:
        histories.setdefault(sample_id, []).append(Reading(version, predicted, confidence))
    return histories


def sample_ids_read_by(*, version_id: int) -> set[int]:
    return set(SampleReading.objects.filter(version_id=version_id).values_list("sample_id", flat=True))


def _judged_readings(version_id: int) -> QuerySet[SampleReading]:
    """Readings of held-out drawings whose label a reviewer approved."""
    return SampleReading.objects.filter(version_id=version_id, held_out=True, sample__status=Sample.Status.APPROVED)


def version_scoreboard_get(*, version_ids: Iterable[int]) -> dict[int, list[tuple[int, int]]]:
    """For each version, (right, drawings) per digit on the approved held-out drawings it read."""
    board = {vid: [(0, 0)] * 10 for vid in version_ids}
    rows = (
        SampleReading.objects.filter(version_id__in=list(board), held_out=True, sample__status=Sample.Status.APPROVED)
        .order_by()
        .values("version_id", "sample__label")
        .annotate(drawings=Count("id"), right=Count("id", filter=Q(predicted=F("sample__label"))))
    )
    for row in rows:
        board[row["version_id"]][row["sample__label"]] = (row["right"], row["drawings"])
    return board


def samples_by_ids(*, sample_ids: Iterable[int]) -> dict[int, Sample]:
    """Drawings by id, with what a thumbnail needs (an id that is gone is left out)."""
    return Sample.objects.only("id", "label", "pixels").in_bulk(list(sample_ids))


def samples_right_for_one_version_only(*, right_id: int, wrong_id: int, limit: int = 48) -> list[Sample]:
    """Approved held-out drawings that version ``right_id`` reads right and
    version ``wrong_id`` reads wrong, newest first."""
    right = _judged_readings(right_id).filter(predicted=F("sample__label")).values("sample_id")
    wrong = _judged_readings(wrong_id).exclude(predicted=F("sample__label")).values("sample_id")
    return list(Sample.objects.filter(id__in=right).filter(id__in=wrong).order_by("-id")[:limit])


# --- contributors ------------------------------------------------------------------


@dataclass(frozen=True)
class ContributorPage:
    client_id: str
    trust: float
    agreed: float
    judged: float
    quarantined: bool
    counts: dict[str, int]  # drawings by triage outcome ("" not triaged)
    by_status: dict[str, int]
    samples: list[Sample]  # the newest

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.judged if self.judged else None

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def contributor_get(*, client_id: str, limit: int = 200) -> ContributorPage | None:
    """A contributor's trust, agreement and newest drawings (None: none stored)."""
    samples = Sample.objects.filter(client_id=client_id)
    by_status = dict(samples.order_by().values_list("status").annotate(n=Count("id")))
    if not by_status:
        return None
    counts = dict(samples.order_by().values_list("triage").annotate(n=Count("id")))
    row = Contributor.objects.filter(client_id=client_id).first()
    return ContributorPage(
        client_id=client_id,
        trust=row.trust if row else 0.1,
        agreed=row.agreed if row else 0.0,
        judged=row.judged if row else 0.0,
        quarantined=bool(row and row.quarantined),
        counts=counts,
        by_status=by_status,
        samples=list(samples.order_by("-id").defer("probabilities")[:limit]),
    )
