"""Staff pages beyond the stock admin: the review queue and the statistics,
and the stored drawings they show (which are not public files)."""

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from digits.models import Sample
from digits.review.selectors import (
    confusion_matrix_get,
    disagreement_get,
    review_queue_counts,
    sample_counts_by_label_and_status,
    sample_counts_per_day,
)
from digits.selectors import contributor_get
from digits.triage_policy import triage_statistics_get
from webapp.staff import staff_page

QUEUE_ORDERS = ("oldest", "disagreements", "uncertain")


@staff_page("digits.review_sample")
def queue(request):
    counts = review_queue_counts()
    order = request.GET.get("order")
    if order not in QUEUE_ORDERS:
        order = "disagreements" if request.GET.get("disagreements") == "first" else "oldest"
    return render(request, "digits/review/queue.html", {"counts": counts, "order": order})


@staff_page("digits.view_sample")
def statistics(request):
    matrix = confusion_matrix_get()
    per_day = sample_counts_per_day(days=30)
    context = {
        "by_label": sample_counts_by_label_and_status(),
        "per_day": per_day,
        "per_day_total": sum(row["total"] for row in per_day),
        "disagreement": disagreement_get(),
        "matrix": matrix,
        "heat": _heat_rows(matrix),
        "statuses": Sample.Status.choices,
        "triage": triage_statistics_get(),
        "counted_at": timezone.now(),
    }
    return render(request, "digits/review/statistics.html", context)


def _heat_rows(matrix: list[list[int]]) -> list[dict]:
    """Each cell with its share of its row (how often drawings of that label
    got that prediction), which colours the heat map."""
    rows = []
    for label, counts in enumerate(matrix):
        total = sum(counts)
        cells = [{"n": n, "share": n / total if total else 0.0, "diagonal": label == p} for p, n in enumerate(counts)]
        rows.append({"label": label, "total": total, "cells": cells})
    return rows


@staff_page("digits.view_sample")
def sample_drawing(request, sample_id: int):
    sample = get_object_or_404(Sample, id=sample_id)
    if not sample.image:
        raise Http404("The drawing's original image was purged (retention of rejected drawings).")
    try:
        file = sample.image.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404("The drawing's file is missing.") from exc
    content_type = "image/jpeg" if sample.image.name.lower().endswith((".jpg", ".jpeg")) else "image/png"
    response = FileResponse(file, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@staff_page("digits.view_sample")
def contributor(request, client_id: str):
    """One client id: its trust, how its labels agreed, its drawings."""
    found = contributor_get(client_id=client_id, limit=200)
    if found is None:
        raise Http404("No drawings from this client id.")
    return render(request, "digits/review/contributor.html", {"c": found})
