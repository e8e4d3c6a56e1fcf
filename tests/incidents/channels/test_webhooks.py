"""Outgoing webhooks: signed per Standard Webhooks, verified by a real receiver with the library's own
verifier; transient and permanent failures; restricted incidents; endpoints (services, API)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from accounts.models import LedgerEvent
from accounts.roles import Role
from config.errors import DomainError
from incidents.channels import services
from incidents.channels.base import DeliveryError, Message
from incidents.channels.events import ChannelEvent
from incidents.channels.routing import webhook_addresses_for
from incidents.channels.webhooks import WebhookChannel
from incidents.models import WebhookEndpoint


class Receiver:
    """A customer's webhook receiver on a real socket: verifies each request with the library's verifier."""

    def __init__(self):
        self.requests: list[dict] = []
        self.secret = ""
        self.status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())
                try:
                    verified = Webhook(receiver.secret).verify(body, headers)
                except WebhookVerificationError as exc:
                    verified = exc
                receiver.requests.append({"body": body, "headers": headers, "verified": verified})
                time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/failsafe"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.FAILSAFE_WEBHOOK_ALLOW_HTTP = True  # the receiver is plain HTTP on the loopback
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def admin(make_user, actor_for):
    return actor_for(make_user(Role.ADMIN))


@pytest.fixture
def endpoint(receiver, admin):
    endpoint = services.webhook_endpoint_create(actor=admin, name="Opsgenie", url=receiver.url, events=["sev1", "page"])
    receiver.secret = endpoint.secret
    return endpoint


MESSAGE = Message(
    event="sev1",
    subject="INC-2026-0001 is SEV1",
    text="Escalated.",
    url="http://failsafe.test/i/",
    incident_ref="",
    data={"severity": "SEV1"},
)


def send(endpoint, message=MESSAGE, key="notification-42@webhook"):
    WebhookChannel().send(address=str(endpoint.pk), message=message, idempotency_key=key)


def test_a_delivery_verifies_with_the_librarys_own_verifier(receiver, endpoint):
    send(endpoint)

    [request] = receiver.requests
    payload = request["verified"]
    assert not isinstance(payload, Exception), payload
    assert payload["type"] == "sev1" and payload["timestamp"].endswith("Z")
    assert payload["data"]["subject"] == "INC-2026-0001 is SEV1" and payload["data"]["severity"] == "SEV1"
    assert request["headers"]["webhook-id"] == "notification-42@webhook"
    assert request["headers"]["webhook-signature"].startswith("v1,")


def test_a_retry_carries_the_same_webhook_id_so_receivers_dedupe(receiver, endpoint):
    send(endpoint, key="n-7")
    send(endpoint, key="n-7")
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == ["n-7", "n-7"]


def test_a_tampered_body_fails_verification(receiver, endpoint):
    send(endpoint)
    [request] = receiver.requests
    tampered = request["body"].replace(b"SEV1", b"SEV4")
    assert tampered != request["body"]
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(tampered, request["headers"])
    with pytest.raises(WebhookVerificationError):  # nor does another endpoint's secret verify it
        Webhook(WebhookEndpoint(secret="whsec_" + "A" * 43 + "=").secret).verify(request["body"], request["headers"])


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (500, True),
        (502, True),
        (503, True),
        (408, True),
        (429, True),
        (400, False),
        (401, False),
        (404, False),
        (410, False),
    ],
)
def test_server_errors_and_408_429_are_transient_other_4xx_permanent(receiver, endpoint, status, transient):
    receiver.status = status
    with pytest.raises(DeliveryError) as refused:
        send(endpoint)
    assert refused.value.transient is transient and str(status) in str(refused.value)


def test_a_timeout_is_transient(receiver, endpoint, settings):
    settings.FAILSAFE_WEBHOOK_READ_TIMEOUT = 0.2
    receiver.delay = 1.0
    with pytest.raises(DeliveryError) as refused:
        send(endpoint)
    assert refused.value.transient and "timed out" in str(refused.value)


def test_nobody_listening_is_transient(receiver, endpoint):
    receiver.stop()
    with pytest.raises(DeliveryError) as refused:
        send(endpoint)
    assert refused.value.transient


def test_a_disabled_or_unknown_endpoint_or_unsubscribed_event_is_permanent(receiver, endpoint, admin):
    for message, address in [
        (Message(event="review", subject="s", text="t"), str(endpoint.pk)),
        (MESSAGE, "999999"),
        (MESSAGE, "not-an-id"),
    ]:
        with pytest.raises(DeliveryError) as refused:
            WebhookChannel().send(address=address, message=message, idempotency_key="k")
        assert not refused.value.transient
    services.webhook_endpoint_disable(actor=admin, endpoint=endpoint)
    with pytest.raises(DeliveryError) as refused:
        send(endpoint)
    assert not refused.value.transient and "disabled" in str(refused.value)
    assert receiver.requests == []


# --- restricted incidents (DESIGN §7) ---------------------------------------------------------------------


def test_a_full_message_about_a_restricted_incident_never_leaves(receiver, endpoint, make_incident):
    incident = make_incident(restricted=True, title="Secret")
    full = Message(event="sev1", subject=f"{incident.ref}: Secret", text="Details", incident_ref=incident.ref)
    with pytest.raises(DeliveryError) as refused:
        send(endpoint, message=full)
    assert not refused.value.transient and receiver.requests == []


def test_a_redacted_message_may_carry_only_ref_event_and_needs(receiver, endpoint, make_incident):
    incident = make_incident(restricted=True, title="Secret")
    leaky = Message(
        event="sev1",
        subject="A restricted incident needs leadership",
        text="…",
        redacted=True,
        incident_ref=incident.ref,
        data={"ref": incident.ref, "title": "Secret"},
    )
    with pytest.raises(DeliveryError) as refused:
        send(endpoint, message=leaky)
    assert not refused.value.transient and "title" in str(refused.value)
    assert receiver.requests == []

    redacted = Message(
        event="sev1",
        subject="A restricted incident needs leadership",
        text="It needs leadership.",
        redacted=True,
        incident_ref=incident.ref,
        data={"ref": incident.ref, "event": "sev1", "needs": "leadership"},
    )
    send(endpoint, message=redacted)
    payload = receiver.requests[0]["verified"]
    assert payload["data"]["redacted"] is True and payload["data"]["ref"] == incident.ref
    assert "Secret" not in json.dumps(payload)


# --- endpoints: services, routing, API -------------------------------------------------------------------


def test_unknown_events_are_a_clear_error_naming_them(db, admin):
    with pytest.raises(DomainError) as refused:
        services.webhook_endpoint_create(actor=admin, name="x", url="https://example.test/h", events=["sev1", "sev9"])
    assert (
        refused.value.fields["events"]
        and "'sev9'" in refused.value.message
        and "approval_needed" in refused.value.message
    )
    with pytest.raises(DomainError):
        services.webhook_endpoint_create(actor=admin, name="x", url="https://example.test/h", events=[])


def test_only_https_urls_unless_http_is_allowed(db, admin, settings):
    with pytest.raises(DomainError) as refused:
        services.webhook_endpoint_create(actor=admin, name="x", url="file:///etc/passwd", events=["sev1"])
    assert "url" in refused.value.fields
    settings.FAILSAFE_WEBHOOK_ALLOW_HTTP = False
    with pytest.raises(DomainError):
        services.webhook_endpoint_create(actor=admin, name="x", url="http://example.test/h", events=["sev1"])
    assert services.webhook_endpoint_create(actor=admin, name="x", url="https://example.test/h", events=["sev1"]).pk


def test_creating_rotating_and_disabling_are_ledgered_without_the_secret(receiver, endpoint, admin):
    old = endpoint.secret
    rotated = services.webhook_endpoint_rotate_secret(actor=admin, endpoint=endpoint)
    assert rotated.secret.startswith("whsec_") and rotated.secret != old
    services.webhook_endpoint_disable(actor=admin, endpoint=endpoint)
    services.webhook_endpoint_disable(actor=admin, endpoint=endpoint)  # a repeat records nothing
    events = LedgerEvent.objects.filter(verb__startswith="webhook.").order_by("seq")
    assert [e.verb for e in events] == [
        ChannelEvent.WEBHOOK_CREATED,
        ChannelEvent.WEBHOOK_SECRET_ROTATED,
        ChannelEvent.WEBHOOK_DISABLED,
    ]
    assert all(
        old not in json.dumps([e.before, e.after]) and rotated.secret not in json.dumps([e.before, e.after])
        for e in events
    )


def test_after_rotation_the_old_secret_no_longer_verifies(receiver, endpoint, admin):
    old = endpoint.secret
    receiver.secret = services.webhook_endpoint_rotate_secret(actor=admin, endpoint=endpoint).secret
    send(endpoint)
    request = receiver.requests[0]
    assert not isinstance(request["verified"], Exception)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request["body"], request["headers"])


def test_webhook_addresses_are_the_active_subscribers(db, admin):
    page = services.webhook_endpoint_create(actor=admin, name="a", url="https://a.test/", events=["page"])
    both = services.webhook_endpoint_create(actor=admin, name="b", url="https://b.test/", events=["page", "sev1"])
    off = services.webhook_endpoint_create(actor=admin, name="c", url="https://c.test/", events=["page"])
    services.webhook_endpoint_disable(actor=admin, endpoint=off)
    assert webhook_addresses_for(event="page") == [str(page.pk), str(both.pk)]
    assert webhook_addresses_for(event="sev1") == [str(both.pk)]
    with pytest.raises(ValueError):
        webhook_addresses_for(event="nope")


def test_non_admins_may_not_manage_endpoints(db, make_user, actor_for, api_for):
    with pytest.raises(DomainError) as refused:
        services.webhook_endpoint_create(
            actor=actor_for(make_user(Role.LEADERSHIP)), name="x", url="https://example.test/h", events=["sev1"]
        )
    assert refused.value.code == "forbidden"
    api = api_for(make_user(Role.LEADERSHIP))
    assert api.get("/api/v1/webhooks/").status_code == 403
    assert (
        api.post(
            "/api/v1/webhooks/", {"name": "x", "url": "https://e.test/", "events": ["sev1"]}, format="json"
        ).status_code
        == 403
    )
    assert not WebhookEndpoint.objects.exists()


def test_the_api_shows_the_secret_once(db, make_user, api_for):
    api = api_for(make_user(Role.ADMIN))
    created = api.post(
        "/api/v1/webhooks/", {"name": "Teams", "url": "https://teams.test/h", "events": ["page"]}, format="json"
    )
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    listed = api.get("/api/v1/webhooks/").json()["results"]
    assert listed[0]["name"] == "Teams" and "secret" not in listed[0]
    endpoint_id = created.json()["id"]
    rotated = api.post(f"/api/v1/webhooks/{endpoint_id}/rotate-secret/", {}, format="json")
    assert rotated.status_code == 200 and rotated.json()["secret"] not in ("", created.json()["secret"])
    disabled = api.post(f"/api/v1/webhooks/{endpoint_id}/disable/", {}, format="json")
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert api.post("/api/v1/webhooks/999999/disable/", {}, format="json").status_code == 404


def test_the_api_names_an_unknown_event(db, make_user, api_for):
    response = api_for(make_user(Role.ADMIN)).post(
        "/api/v1/webhooks/", {"name": "x", "url": "https://e.test/h", "events": ["sev1", "bogus"]}, format="json"
    )
    assert response.status_code == 400 and "bogus" in response.json()["errors"]["events"][0]


def test_the_endpoint_list_costs_the_same_queries_for_3_and_30(
    db, make_user, api_for, admin, django_assert_num_queries
):
    api = api_for(make_user(Role.ADMIN))
    for n in range(3):
        services.webhook_endpoint_create(actor=admin, name=f"e{n}", url="https://e.test/", events=["page"])
    api.get("/api/v1/webhooks/")
    with django_assert_num_queries(2) as small:  # the user and its groups are cached; count, page
        assert len(api.get("/api/v1/webhooks/").json()["results"]) == 3
    for n in range(27):
        services.webhook_endpoint_create(actor=admin, name=f"f{n}", url="https://e.test/", events=["page"])
    with django_assert_num_queries(len(small)):
        assert len(api.get("/api/v1/webhooks/").json()["results"]) == 30


def test_the_admin_creates_an_endpoint_and_shows_its_secret_once(db, make_user, client_for):
    user = make_user(Role.ADMIN)
    user.is_staff = True
    user.save()
    client = client_for(user)
    created = client.post(
        "/admin/incidents/webhookendpoint/add/",
        {"name": "Bot", "url": "https://bot.test/h", "events": ["page", "sev1"]},
    )
    endpoint = WebhookEndpoint.objects.get()
    # The secret shown once never rides in a cookie (signed is not secret): messages stay in the session.
    assert "messages" not in created.cookies
    response = client.get(created["Location"])
    assert response.status_code == 200 and endpoint.secret.encode() in response.content
    assert endpoint.events == ["sev1", "page"]
    assert endpoint.secret.encode() not in client.get(f"/admin/incidents/webhookendpoint/{endpoint.pk}/change/").content
    assert LedgerEvent.objects.filter(verb=ChannelEvent.WEBHOOK_CREATED).count() == 1
