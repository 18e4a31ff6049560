from django.conf import settings
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from .collect import client_id_peek, client_sample_count


@ensure_csrf_cookie
def draw(request):
    """The drawing page; everything on it after load comes from /api/."""
    context = {
        "count": client_sample_count(client_id=client_id_peek(request)),
        "focus_digits": settings.FOCUS_DIGITS,
    }
    return render(request, "digits/draw.html", context)
