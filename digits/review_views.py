"""Staff pages beyond the stock admin: the review queue and the statistics,
and the stored drawings they show (which are not public files)."""

from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render

from .models import Sample
from .selectors import (
    confusion_matrix_get,
    disagreement_get,
    review_queue_counts,
    sample_counts_by_label_and_status,
    sample_counts_per_day,
)


def staff_with_perm(perm: str):
    """Anonymous users (and users who are not staff) go to the login page;
    staff without ``perm`` get a 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.has_perm(perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return staff_member_required(wrapped)

    return decorator


@staff_with_perm("digits.review_sample")
def queue(request):
    counts = review_queue_counts()
    disagreements_first = request.GET.get("disagreements") == "first"
    return render(request, "digits/review/queue.html", {"counts": counts, "disagreements_first": disagreements_first})


@staff_with_perm("digits.view_sample")
def statistics(request):
    matrix = confusion_matrix_get()
    context = {
        "by_label": sample_counts_by_label_and_status(),
        "per_day": sample_counts_per_day(days=30),
        "disagreement": disagreement_get(),
        "matrix": matrix,
        "heat": _heat_rows(matrix),
        "statuses": Sample.Status.choices,
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


@staff_with_perm("digits.view_sample")
def sample_drawing(request, sample_id: int):
    sample = get_object_or_404(Sample, id=sample_id)
    try:
        file = sample.image.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404("The drawing's file is missing.") from exc
    content_type = "image/jpeg" if sample.image.name.lower().endswith((".jpg", ".jpeg")) else "image/png"
    response = FileResponse(file, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response
