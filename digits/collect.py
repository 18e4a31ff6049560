"""Who gives drawings, how many they gave, and which digit to ask them for."""

from __future__ import annotations

import random
import uuid

from django.conf import settings
from django.http import HttpRequest

from .models import Sample

SESSION_KEY = "digits_client_id"
# In collect mode, this share of the requests asks for one of FOCUS_DIGITS
# (those the model confuses most); the rest ask for any digit, so every class
# still gets new drawings.
FOCUS_SHARE = 0.6


def client_id_peek(request: HttpRequest) -> str | None:
    """The anonymous id of this browser, if it has given a drawing (no session is made)."""
    return request.session.get(SESSION_KEY)


def client_id_get(request: HttpRequest) -> str:
    """The anonymous id of this browser: the one in its session, or a new one
    that ``client_id_remember`` keeps once a drawing was accepted (a refused
    request leaves no session behind)."""
    return request.session.get(SESSION_KEY) or uuid.uuid4().hex


def client_id_remember(request: HttpRequest, client_id: str) -> None:
    if request.session.get(SESSION_KEY) != client_id:
        request.session[SESSION_KEY] = client_id


def client_sample_count(*, client_id: str | None) -> int:
    if not client_id:
        return 0
    return Sample.objects.filter(client_id=client_id).count()


def prompt_digit_choose(*, rng: random.Random | None = None, focus: list[int] | None = None) -> int:
    """The digit collect mode asks for next, favouring the focus digits."""
    rng = rng or random.Random()
    focus = settings.FOCUS_DIGITS if focus is None else focus
    if focus and rng.random() < FOCUS_SHARE:
        return rng.choice(focus)
    return rng.randrange(10)
