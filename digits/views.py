from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST

from models.selectors import active_model_version_get, model_version_list

from .collect import client_id_forget, client_id_peek, client_sample_count
from .services import client_samples_forget


@ensure_csrf_cookie
def draw(request):
    """The drawing page; everything on it after load comes from /api/."""
    context = {
        "count": client_sample_count(client_id=client_id_peek(request)),
        "focus_digits": settings.FOCUS_DIGITS,
        # Staff may see the drawing through any registered version beside the served one.
        "versions": list(model_version_list()) if request.user.is_staff else [],
        # A fresh start: the page says the first model is training until one is served.
        "no_model": active_model_version_get() is None,
    }
    return render(request, "digits/draw.html", context)


@require_POST
def forget(request):
    """The page's "Forget my drawings" (a plain form, CSRF-checked)."""
    count = client_samples_forget(client_id=client_id_peek(request) or "")
    client_id_forget(request)
    messages.success(request, f"Forgotten: {count} drawing{'s' if count != 1 else ''} deleted.")
    return redirect("draw")
