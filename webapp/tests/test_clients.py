"""The client's address, as rate limits and the login guard see it: the
connecting address, or X-Forwarded-For only when a trusted proxy sent it."""

import pytest
from django.test import RequestFactory

from webapp.clients import client_address


def _request(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert client_address(_request("198.51.100.4", "203.0.113.9")) == "198.51.100.4"


def test_a_trusted_proxy_names_the_client(settings):
    settings.TRUSTED_PROXIES = ["172.16.0.0/12"]
    assert client_address(_request("172.20.0.5", "203.0.113.9")) == "203.0.113.9"


def test_an_untrusted_sender_cannot_claim_an_address(settings):
    settings.TRUSTED_PROXIES = ["172.16.0.0/12"]
    assert client_address(_request("198.51.100.4", "203.0.113.9")) == "198.51.100.4"


def test_what_the_client_wrote_before_the_proxy_appended_is_ignored(settings):
    settings.TRUSTED_PROXIES = ["*"]
    settings.TRUSTED_PROXY_COUNT = 1
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the address it saw.
    assert client_address(_request("172.20.0.5", "1.2.3.4, 203.0.113.9")) == "203.0.113.9"


def test_two_proxies_in_front(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.TRUSTED_PROXY_COUNT = 2  # a TLS terminator appended the client, the proxy appended the terminator
    assert client_address(_request("10.0.0.2", "1.2.3.4, 203.0.113.9, 10.0.0.1")) == "203.0.113.9"


@pytest.mark.parametrize("forwarded", ["", "not-an-address"])
def test_a_missing_or_broken_header_falls_back_to_the_proxy(settings, forwarded):
    settings.TRUSTED_PROXIES = ["*"]
    assert client_address(_request("172.20.0.5", forwarded)) == "172.20.0.5"
