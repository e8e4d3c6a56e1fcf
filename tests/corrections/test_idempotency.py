"""A correction requested twice (a double click, a client retry) is made once.

API: an Idempotency-Key header makes a repeated POST replay the first answer. Pages: the request
form carries a one-time token, and a second POST of it redirects to the first correction.
"""

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.actor import Actor
from accounts.models import IdempotencyRecord, LedgerEvent
from accounts.roles import Role
from corrections import services
from corrections.models import Correction, OutboxEntry, State

BLOCK = {"type": "block_accounts", "deployment": "atlas-api", "params": {"accounts": ["acct-mallory"]},
         "rationale": "Abuse at scale."}  # fmt: skip
PAUSE = {"type": "pause_deployment", "deployment": "atlas-chat", "params": {}, "rationale": "Synthesis route."}


@pytest.fixture
def incident(make_incident, people):
    return make_incident(by=people["responder"], severity="SEV1")


def request_url(incident):
    return f"/api/v1/incidents/{incident.ref}/corrections/"


def post(client, url, body, key=None):
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(url, body, format="json", headers=headers)


def requested_events():
    return LedgerEvent.objects.filter(verb="correction.requested").count()


# --- the API --------------------------------------------------------------------------------------


def test_same_key_and_body_twice_makes_one_correction_and_answers_the_same(
    api_for, incident, people, accounts, task_sends
):
    client = api_for(people["responder"])

    first = post(client, request_url(incident), BLOCK, key="retry-1")
    second = post(client, request_url(incident), BLOCK, key="retry-1")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    correction = Correction.objects.get()
    assert correction.state == State.APPROVED  # tier 1: it runs at once, so a second one would run twice
    assert OutboxEntry.objects.filter(correction=correction).count() == 1
    assert requested_events() == 1


def test_same_key_with_another_body_is_422_and_writes_nothing(api_for, incident, people, accounts, task_sends):
    client = api_for(people["responder"])
    post(client, request_url(incident), BLOCK, key="retry-1")
    events = LedgerEvent.objects.count()

    response = post(client, request_url(incident), {**BLOCK, "rationale": "Something else."}, key="retry-1")

    assert response.status_code == 422
    assert "different request" in response.json()["errors"]["Idempotency-Key"][0]
    assert Correction.objects.count() == 1
    assert LedgerEvent.objects.count() == events


def test_same_key_on_another_path_is_422(api_for, incident, make_incident, people, accounts, task_sends):
    client = api_for(people["responder"])
    post(client, request_url(incident), BLOCK, key="retry-1")

    other = make_incident(by=people["responder"])
    response = post(client, request_url(other), BLOCK, key="retry-1")

    assert response.status_code == 422
    assert Correction.objects.count() == 1


def test_a_key_used_by_another_user_is_independent(api_for, incident, people, accounts, task_sends):
    first = post(api_for(people["responder"]), request_url(incident), BLOCK, key="shared-key")
    second = post(api_for(people["commander"]), request_url(incident), BLOCK, key="shared-key")

    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert second.json()["id"] != first.json()["id"]
    assert Correction.objects.count() == 2


def test_the_key_belongs_to_the_tokens_user_whichever_door_they_use(incident, people, accounts, task_sends):
    user = people["responder"]
    token = account_services.api_token_issue(actor=Actor(user=user, source="api"))
    by_token = APIClient()
    by_token.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    by_session = APIClient()
    by_session.force_login(user)

    first = post(by_token, request_url(incident), BLOCK, key="k-1")
    second = post(by_session, request_url(incident), BLOCK, key="k-1")

    assert first.status_code == 201 and second["Idempotent-Replayed"] == "true"
    assert Correction.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "clé", "new\nline"])
def test_a_bad_key_is_400_naming_the_header_and_writes_nothing(api_for, incident, people, key):
    response = post(api_for(people["responder"]), request_url(incident), PAUSE, key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert Correction.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


def test_the_longest_allowed_key_works(api_for, incident, people):
    key = "~ " + "x" * 253
    client = api_for(people["responder"])
    assert post(client, request_url(incident), PAUSE, key=key).status_code == 201
    assert post(client, request_url(incident), PAUSE, key=key)["Idempotent-Replayed"] == "true"
    assert Correction.objects.count() == 1


def test_a_refusal_is_kept_and_replayed_even_once_the_request_would_succeed(
    api_for, incident, people, accounts, task_sends
):
    """A 4xx is the first answer too: a client's retry must not turn it into a different outcome."""
    client = api_for(people["commander"])
    correction_id = post(client, request_url(incident), BLOCK).json()["id"]
    retry = f"/api/v1/corrections/{correction_id}/retry/"

    refused = post(client, retry, {"reason": "Fixed."}, key="retry-1")
    assert refused.status_code == 409  # it has not failed
    Correction.objects.filter(pk=correction_id).update(state=State.FAILED, failed_action="apply")
    again = post(client, retry, {"reason": "Fixed."}, key="retry-1")

    assert again.status_code == 409 and again.json() == refused.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Correction.objects.get(pk=correction_id).state == State.FAILED
    assert post(client, retry, {"reason": "Fixed."}, key="retry-2").status_code == 200  # a new key runs


def test_a_replay_still_needs_the_permission(api_for, incident, people, accounts, task_sends):
    responder = people["responder"]
    client = api_for(responder)
    assert post(client, request_url(incident), BLOCK, key="k-1").status_code == 201
    responder.groups.clear()
    del responder.roles  # cached_property: the client re-reads the user on the next request

    assert post(client, request_url(incident), BLOCK, key="k-1").status_code == 403


def test_a_server_error_is_not_kept_so_the_retry_runs(api_for, incident, people, monkeypatch):
    real = services.correction_request
    calls = []

    def crash_once(**kwargs):
        calls.append(1)
        correction = real(**kwargs)  # the write happens, then the process "crashes" before answering
        if len(calls) == 1:
            raise RuntimeError("worker died")
        return correction

    monkeypatch.setattr(services, "correction_request", crash_once)
    client = api_for(people["responder"])
    client.raise_request_exception = False

    crashed = post(client, request_url(incident), PAUSE, key="k-1")
    assert crashed.status_code == 500
    assert Correction.objects.count() == 0  # rolled back with the claim
    assert IdempotencyRecord.objects.count() == 0

    retried = post(client, request_url(incident), PAUSE, key="k-1")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert Correction.objects.count() == 1


def test_a_key_older_than_a_day_runs_again(api_for, incident, people):
    client = api_for(people["responder"])
    assert post(client, request_url(incident), PAUSE, key="k-1").status_code == 201
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    again = post(client, request_url(incident), PAUSE, key="k-1")

    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Correction.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 1


def test_without_a_key_a_post_runs_every_time(api_for, incident, people):
    client = api_for(people["responder"])
    post(client, request_url(incident), PAUSE)
    post(client, request_url(incident), PAUSE)
    assert Correction.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 0


THREADS = 8


@pytest.mark.postgres
def test_simultaneous_posts_with_one_key_make_one_correction_and_one_outbox_entry(
    transactional_db, make_incident, make_user, task_sends
):
    from incidents.models import CustomerAccount

    CustomerAccount.objects.create(account_id="acct-mallory", tier="free")
    responder = make_user(Role.RESPONDER)
    incident = make_incident(by=responder, severity="SEV1")
    barrier = threading.Barrier(THREADS)
    answers = []

    def send():
        client = APIClient()
        client.force_authenticate(responder)
        try:
            barrier.wait()
            response = post(client, request_url(incident), BLOCK, key="double-click")
            answers.append((response.status_code, response.json(), response.get("Idempotent-Replayed")))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert len(answers) == THREADS
    assert {status for status, _, _ in answers} == {201}
    assert len({body["id"] for _, body, _ in answers}) == 1  # every one waited for the first and replayed it
    assert sorted(str(replayed) for _, _, replayed in answers) == ["None"] + ["true"] * (THREADS - 1)
    correction = Correction.objects.get()
    assert OutboxEntry.objects.filter(correction=correction).count() == 1
    assert LedgerEvent.objects.filter(verb="correction.requested").count() == 1
    assert [name for name, *_ in task_sends] == ["corrections.dispatch_outbox_entry"]


# --- the request page -----------------------------------------------------------------------------


@pytest.fixture
def browser_for(db):
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def form_url(incident, type):
    return f"{reverse('correction-new', args=[incident.ref])}?type={type}"


def token_in(response) -> str:
    match = re.search(r'name="submit_token" value="([^"]+)"', response.content.decode())
    assert match, "the form carries no one-time token"
    return match.group(1)


def flashes(client, url) -> list[str]:
    return [str(m) for m in client.get(url).context["messages"]]


def test_double_submit_of_the_request_form_makes_one_correction_and_redirects_to_it(
    browser_for, incident, people, accounts, task_sends
):
    client = browser_for(people["responder"])
    token = token_in(client.get(form_url(incident, "block_accounts")))
    body = {"type": "block_accounts", "deployment": "atlas-api", "param_accounts": "acct-mallory",
            "rationale": "Abuse.", "submit_token": token}  # fmt: skip

    first = client.post(form_url(incident, "block_accounts"), body)
    second = client.post(form_url(incident, "block_accounts"), body)

    correction = Correction.objects.get()
    where = reverse("correction-detail", args=[correction.pk])
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == where
    assert any("already submitted" in m for m in flashes(client, second["Location"]))
    assert OutboxEntry.objects.filter(correction=correction).count() == 1


def test_the_confirmation_step_carries_the_token_and_a_second_confirm_makes_nothing(browser_for, incident, people):
    client = browser_for(people["responder"])
    token = token_in(client.get(form_url(incident, "pause_deployment")))
    body = {"type": "pause_deployment", "deployment": "atlas-chat", "rationale": "x", "submit_token": token}

    confirm = client.post(form_url(incident, "pause_deployment"), body)
    assert token_in(confirm) == token
    first = client.post(form_url(incident, "pause_deployment"), {**body, "confirmed": "yes"})
    second = client.post(form_url(incident, "pause_deployment"), {**body, "confirmed": "yes"})

    assert first["Location"] == second["Location"] == reverse("correction-detail", args=[Correction.objects.get().pk])


def test_a_refused_submit_keeps_its_token_for_the_corrected_one(browser_for, incident, people, accounts, task_sends):
    client = browser_for(people["responder"])
    token = token_in(client.get(form_url(incident, "block_accounts")))
    body = {"type": "block_accounts", "deployment": "atlas-api", "rationale": "Abuse.", "submit_token": token}
    # Refused by the service (an unknown account), not the form: the claim is rolled back with it.
    refused = client.post(form_url(incident, "block_accounts"), {**body, "param_accounts": "acct-nobody"})
    assert refused.status_code == 400 and token_in(refused) == token
    assert IdempotencyRecord.objects.count() == 0

    done = client.post(form_url(incident, "block_accounts"), {**body, "param_accounts": "acct-mallory"})

    assert done.status_code == 302
    assert Correction.objects.get().params == {"accounts": ["acct-mallory"]}


def test_a_token_from_another_incidents_form_creates_nothing(browser_for, incident, make_incident, people):
    client = browser_for(people["responder"])
    token = token_in(client.get(form_url(incident, "pause_deployment")))
    body = {"type": "pause_deployment", "deployment": "atlas-chat", "rationale": "x", "submit_token": token,
            "confirmed": "yes"}  # fmt: skip
    assert client.post(form_url(incident, "pause_deployment"), body).status_code == 302
    other = make_incident(by=people["responder"])

    response = client.post(form_url(other, "pause_deployment"), body)

    assert response.status_code == 400
    assert "already used for a different request" in response.content.decode()
    assert Correction.objects.count() == 1


def test_another_persons_token_does_not_redirect_to_their_correction(browser_for, incident, people):
    mine = browser_for(people["responder"])
    token = token_in(mine.get(form_url(incident, "pause_deployment")))
    body = {"type": "pause_deployment", "deployment": "atlas-chat", "rationale": "x", "submit_token": token,
            "confirmed": "yes"}  # fmt: skip
    assert mine.post(form_url(incident, "pause_deployment"), body).status_code == 302

    theirs = browser_for(people["commander"]).post(form_url(incident, "pause_deployment"), body)

    theirs_made = Correction.objects.get(requested_by=people["commander"])
    assert theirs["Location"] == reverse("correction-detail", args=[theirs_made.pk])
    assert Correction.objects.count() == 2


def test_a_tampered_token_is_refused_and_creates_nothing(browser_for, incident, people):
    client = browser_for(people["responder"])
    body = {"type": "pause_deployment", "deployment": "atlas-chat", "rationale": "x", "submit_token": "<script>",
            "confirmed": "yes"}  # fmt: skip

    response = client.post(form_url(incident, "pause_deployment"), body)

    assert response.status_code == 400
    assert "reload the page" in response.content.decode()
    assert Correction.objects.count() == 0
