"""accounts.client.client_ip: the one answer to "which address is this client?"."""

import pytest
from django.test import RequestFactory

from accounts.client import client_ip


@pytest.mark.parametrize(
    "proxies, remote, forwarded, expected",
    [
        (0, "203.0.113.5", "", "203.0.113.5"),
        (0, "203.0.113.5", "198.51.100.1", "203.0.113.5"),  # no trusted proxy: the header is the client's word
        (1, "10.0.0.1", "192.0.2.1, 198.51.100.1", "198.51.100.1"),  # the proxy appended the last entry
        (2, "10.0.0.2", "192.0.2.1, 198.51.100.1, 10.0.0.1", "198.51.100.1"),
        (2, "10.0.0.2", "198.51.100.1", "198.51.100.1"),  # fewer hops than proxies: the leftmost
        (1, "10.0.0.1", "", "10.0.0.1"),  # nothing forwarded: the peer
        (1, "10.0.0.1", "not-an-address", "10.0.0.1"),  # garbage never reaches the ledger or the lockout
        (1, "10.0.0.1", "2001:DB8:0:0::1", "2001:db8::1"),  # one spelling per address
        (0, "", "", ""),
        (0, "unix:/run/gunicorn.sock", "", ""),
    ],
)
def test_client_ip(settings, proxies, remote, forwarded, expected):
    settings.FAILSAFE_TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected


def test_the_ledger_records_the_same_address_as_the_lockout(settings, rf, make_user):
    from accounts.actor import Actor

    settings.FAILSAFE_TRUSTED_PROXY_COUNT = 1
    request = rf.post("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.1")
    request.user = make_user()

    assert Actor.from_request(request).client_ip == "198.51.100.1" == client_ip(request)
