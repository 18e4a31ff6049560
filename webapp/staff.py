"""The one gate in front of staff pages and staff APIs.

Who gets in is decided by ``staff_allowed`` alone: an active staff user,
holding ``perm`` when one is named.  Pages send everyone else to the admin
login (staff who lack the permission get a 403); APIs answer 401."""

from __future__ import annotations

from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from ninja.security import SessionAuth


def staff_allowed(user, perm: str | None = None) -> bool:
    return bool(user.is_active and user.is_staff and (perm is None or user.has_perm(perm)))


def staff_page(perm: str | None = None):
    """Decorate a view: anyone who is not staff goes to the login page;
    staff without ``perm`` get a 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not staff_allowed(request.user, perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return staff_member_required(wrapped)

    return decorator


class StaffAuth(SessionAuth):
    """Ninja auth for staff APIs: the session's user when ``staff_allowed``
    (SessionAuth checks the CSRF token on writes)."""

    def __init__(self, perm: str | None = None):
        super().__init__()
        self.perm = perm

    def authenticate(self, request, key):
        user = request.user
        return user if user.is_authenticated and staff_allowed(user, self.perm) else None
