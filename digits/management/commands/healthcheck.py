"""The container's health check: the drawing page renders, one of its static
files is served, and a model is served.  Exits non-zero with the reason
otherwise.  Only HTTP against the local gunicorn: nothing heavy loads here."""

import re
import urllib.error
import urllib.request
from urllib.parse import urljoin

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def _host() -> str:
    """A name the site answers to (ALLOWED_HOSTS), so the check passes its host check."""
    for host in settings.ALLOWED_HOSTS:
        if host not in ("*", "") and not host.startswith("."):
            return host
    return "localhost"


class Command(BaseCommand):
    help = "Exit 0 when the drawing page, one of its static files and the served model all answer 200."

    def add_arguments(self, parser):
        port = settings.GUNICORN_BIND.rsplit(":", 1)[-1]
        parser.add_argument("--url", default=f"http://127.0.0.1:{port}/", help="where gunicorn listens")
        parser.add_argument("--timeout", type=float, default=5.0)

    def handle(self, *args, url: str, timeout: float, **options):
        headers = {"Host": _host()}
        if settings.HTTPS:  # as the TLS-terminating proxy says, or Django redirects to https
            headers["X-Forwarded-Proto"] = "https"

        def get(path: str) -> str:
            request = urllib.request.Request(urljoin(url, path), headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    return response.read().decode("utf-8", errors="replace")
            except (urllib.error.URLError, OSError) as exc:
                raise CommandError(f"GET {path}: {exc}") from exc

        page = get("/")
        prefix = settings.STATIC_URL if settings.STATIC_URL.startswith(("/", "http")) else "/" + settings.STATIC_URL
        static = re.findall(r'(?:href|src)="(' + re.escape(prefix) + r'[^"]+)"', page)
        if not static:
            raise CommandError("The drawing page references no static file.")
        get(static[0])
        get("/api/models/served")
        self.stdout.write(f"healthy: /, {static[0]} and /api/models/served answer 200")
