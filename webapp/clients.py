"""Who a request comes from: the client's address, as rate limits and the
login guard count it.

Behind a reverse proxy every request arrives from the proxy's address, so
the client's own address is taken from X-Forwarded-For, but only when the
request really comes from one of ``TRUSTED_PROXIES``: anyone else could
write that header.  django-ipware reads the chain; ``TRUSTED_PROXY_COUNT``
says how many proxies stand in front (1: the proxy appended the client's
address itself; 2: a TLS terminator or CDN in front of it appended it)."""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip


@cache
def _trusted_networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None:
    """None stands for "*": whoever connects is a proxy (a private network only proxies can reach)."""
    if "*" in proxies:
        return None
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def from_trusted_proxy(request: HttpRequest) -> bool:
    proxies = tuple(settings.TRUSTED_PROXIES)
    if not proxies:
        return False
    networks = _trusted_networks(proxies)
    if networks is None:
        return True
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in network for network in networks)


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or what the trusted proxies say it is."""
    peer = request.META.get("REMOTE_ADDR", "")
    if not from_trusted_proxy(request):
        return peer
    # proxy_count counts the proxies named *inside* the chain: the one that
    # connects to us is REMOTE_ADDR, not an entry of X-Forwarded-For.
    address, _routable = get_client_ip(
        request,
        proxy_count=settings.TRUSTED_PROXY_COUNT - 1,
        request_header_order=["HTTP_X_FORWARDED_FOR"],
        strict=False,
    )
    return address or peer
