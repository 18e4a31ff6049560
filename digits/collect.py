"""Who gives drawings, how many they gave, and which digit to ask them for."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

from models.selectors import active_model_version_get

from .models import Sample
from .selectors import DigitErrors, digit_errors_recent

SESSION_KEY = "digits_client_id"
# In collect mode, this share of the requests asks for a digit the model is
# weak on; the rest ask for any digit, so every class still gets new drawings.
WEAK_SHARE = 0.6
WEAKEST = 3  # the weak digits asked for: this many, weakest first
MIN_DRAWINGS = 5  # recent reviewed drawings of a digit before its error rate counts


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


def client_id_forget(request: HttpRequest) -> None:
    """A browser that asked to be forgotten starts over as someone new."""
    request.session.pop(SESSION_KEY, None)


def client_sample_count(*, client_id: str | None) -> int:
    if not client_id:
        return 0
    return Sample.objects.filter(client_id=client_id).count()


@dataclass(frozen=True)
class Prompt:
    digit: int
    reason: str
    error_rate: float | None = None  # set when the digit was chosen for the model's weakness on it
    drawings: int | None = None


def prompt_choose(*, rng: random.Random | None = None) -> Prompt:
    """The digit collect mode asks for next, and why.

    Mostly (WEAK_SHARE) one the served model gets wrong most often lately:
    among the recent approved drawings it predicted itself, the digits read
    wrong most, picked in proportion to their error rate (a digit needs
    MIN_DRAWINGS to be judged).  Before there is such evidence, the
    configured FOCUS_DIGITS stand in.  The rest of the time any digit, so
    every digit keeps getting new drawings."""
    rng = rng or random.Random()
    weak = weak_digits_get()
    if weak and rng.random() < WEAK_SHARE:
        pick = rng.choices(weak, weights=[d.rate for d in weak])[0]
        reason = (
            f"The model gets {pick.digit}s wrong {pick.rate:.0%} of the time lately "
            f"({pick.wrong} of the last {pick.drawings} reviewed)."
        )
        return Prompt(pick.digit, reason, pick.rate, pick.drawings)
    focus = settings.FOCUS_DIGITS
    if not weak and focus and rng.random() < WEAK_SHARE:
        names = " and ".join(f"{d}s" for d in focus)
        return Prompt(rng.choice(focus), f"Models often confuse {names}: yours help this one tell them apart.")
    return Prompt(rng.randrange(10), "Any digit: every one keeps getting new drawings, so none is forgotten.")


def weak_digits_get() -> list[DigitErrors]:
    """Digits the served version read wrong on recent approved drawings, weakest first."""
    active = active_model_version_get()
    if active is None:
        return []
    judged = [d for d in digit_errors_recent(model_version_id=active.pk) if d.drawings >= MIN_DRAWINGS and d.wrong]
    return sorted(judged, key=lambda d: -d.rate)[:WEAKEST]
