"""Every action a page offers exists in the API (issue 14 §9).

The walk finds each page route whose view takes a POST (a class view's post(), a view decorated to
allow POST, or a function view whose code — or a helper of its module it calls — reads
request.POST or request.method), and every one must be mapped here to the API operations that do
the same thing through the same service, each present in the schema served at /api/schema/. A new
page form without an API counterpart fails this test; a route that is browser-only by nature is
listed in BROWSER_ONLY with its reason."""

from __future__ import annotations

import ast
import inspect
import json
import textwrap

from accounts.roles import Role
from tests.urlwalk import routes

# page route -> the API operations ("METHOD /api/v1/path" as in the schema) that do what it does.
PAGE_WRITES: dict[str, list[str]] = {
    # incidents
    "incidents/new/": ["POST /api/v1/incidents/"],
    "incidents/<ref:ref>/entries/": ["POST /api/v1/incidents/{ref}/timeline/"],
    "incidents/<ref:ref>/severity/": ["PATCH /api/v1/incidents/{ref}/"],
    "incidents/<ref:ref>/status/": ["PATCH /api/v1/incidents/{ref}/"],
    "incidents/<ref:ref>/details/": ["PATCH /api/v1/incidents/{ref}/"],
    "incidents/<ref:ref>/escalate/": ["POST /api/v1/incidents/{ref}/escalate/"],
    "incidents/<ref:ref>/assign/": ["POST /api/v1/incidents/{ref}/assign/"],
    "incidents/<ref:ref>/chat-channel/": ["POST /api/v1/incidents/{ref}/chat-channel/"],
    "incidents/<ref:ref>/checklist/<int:item_id>/tick/": ["POST /api/v1/incidents/{ref}/checklist/{item_id}/tick/"],
    "audit/incidents/<ref:ref>/access/": [  # one page, two forms: grant and revoke
        "POST /api/v1/incidents/{ref}/access/",
        "POST /api/v1/incidents/{ref}/access/revoke/",
    ],
    "signals/<int:pk>/promote/": ["POST /api/v1/signals/{signal_id}/promote/"],
    "signals/<int:pk>/dismiss/": ["POST /api/v1/signals/{signal_id}/dismiss/"],
    # reviews and follow-ups
    "incidents/<ref:ref>/review/start/": ["POST /api/v1/incidents/{ref}/review/"],
    "incidents/<ref:ref>/review/edit/": ["PATCH /api/v1/incidents/{ref}/review/"],
    "incidents/<ref:ref>/review/approve/": ["POST /api/v1/incidents/{ref}/review/approve/"],
    "incidents/<ref:ref>/review/publish/": ["POST /api/v1/incidents/{ref}/review/publish/"],
    "incidents/<ref:ref>/review/amend/": ["POST /api/v1/incidents/{ref}/review/amend/"],
    "incidents/<ref:ref>/review/follow-ups/": ["POST /api/v1/incidents/{ref}/review/follow-ups/"],
    "incidents/<ref:ref>/review/follow-ups/<int:pk>/": ["PATCH /api/v1/follow-ups/{id}/"],
    # regulator reports and reportability
    "incidents/<ref:ref>/reports/": ["POST /api/v1/incidents/{ref}/reports/"],
    "incidents/<ref:ref>/reports/<regime:regime>/edit/": ["PUT /api/v1/incidents/{ref}/reports/{regime}/draft/"],
    "incidents/<ref:ref>/reports/<regime:regime>/submit/": ["POST /api/v1/incidents/{ref}/reports/{regime}/submit/"],
    "incidents/<ref:ref>/reportability/assess/": ["POST /api/v1/incidents/{ref}/reportability/"],
    # evidence and sharing
    "incidents/<ref:ref>/evidence/": ["POST /api/v1/incidents/{ref}/evidence/"],
    "incidents/<ref:ref>/shares/": ["POST /api/v1/incidents/{ref}/shares/"],
    # on call
    "oncall/new/": ["POST /api/v1/oncall/rotations/"],
    "oncall/<int:rotation_id>/edit/": ["PUT /api/v1/oncall/rotations/{rotation_id}/"],
    "oncall/<int:rotation_id>/overrides/": ["POST /api/v1/oncall/rotations/{rotation_id}/overrides/"],
    "pages/<int:page_id>/acknowledge/": ["POST /api/v1/pages/{page_id}/acknowledge/"],
    "accounts/notifications/": ["PUT /api/v1/me/notification-preferences/"],
    # corrections
    "incidents/<ref:ref>/corrections/new/": ["POST /api/v1/incidents/{ref}/corrections/"],
    "corrections/<int:pk>/approve/": ["POST /api/v1/corrections/{id}/approve/"],
    "corrections/<int:pk>/reject/": ["POST /api/v1/corrections/{id}/reject/"],
    "corrections/<int:pk>/cancel/": ["POST /api/v1/corrections/{id}/cancel/"],
    "corrections/<int:pk>/lift/": ["POST /api/v1/corrections/{id}/lift/"],
    "corrections/<int:pk>/lift/approve/": ["POST /api/v1/corrections/{id}/lift/approve/"],
    "corrections/<int:pk>/lift/reject/": ["POST /api/v1/corrections/{id}/lift/reject/"],
    "corrections/<int:pk>/retry/": ["POST /api/v1/corrections/{id}/retry/"],
    "corrections/<int:pk>/confirm/": ["POST /api/v1/corrections/{id}/confirm/"],
    "corrections/<int:pk>/targets/confirm/": ["POST /api/v1/corrections/{id}/targets/confirm/"],
    "notices/<int:notice_id>/edit/": ["PATCH /api/v1/notices/{notice_id}/"],
    "notices/<int:notice_id>/send/": ["POST /api/v1/notices/{notice_id}/send/"],
    # drills and playbooks
    "drills/": ["POST /api/v1/drills/"],
    "incidents/<ref:ref>/drill-report/": ["POST /api/v1/incidents/{ref}/drill-report/"],
    "playbooks/new/": ["POST /api/v1/playbooks/"],
    "playbooks/<int:playbook_id>/versions/new/": ["POST /api/v1/playbooks/{playbook_id}/versions/"],
    "playbooks/<int:playbook_id>/versions/<int:number>/approve/": [
        "POST /api/v1/playbooks/{playbook_id}/versions/{number}/approve/"
    ],
}

# Page write routes with no API counterpart, each for a reason that is about the browser itself.
BROWSER_ONLY: dict[str, str] = {
    "accounts/login/": "Signs a browser in with a session cookie; the API authenticates with a token "
    "(POST /api/v1/auth/token/).",
    "accounts/logout/": "Ends the browser's session; an API client simply stops sending its token.",
    "accounts/otp/start/": "Second-factor enrolment: the secret is shown once as a QR code to scan in person.",
    "accounts/otp/confirm/": "Second-factor enrolment: proves the authenticator app holds the secret just shown.",
    "accounts/otp/remove/": "Removing a second factor needs the signed-in person, in the browser, with a fresh code.",
    "accounts/passkeys/add/begin/": "Passkey enrolment: the browser's authenticator creates the key (WebAuthn).",
    "accounts/passkeys/add/complete/": "Passkey enrolment: the browser's authenticator answers the challenge.",
    "accounts/passkeys/challenge/add/": "Proving a passkey before adding another factor needs the browser's "
    "authenticator.",
    "accounts/passkeys/challenge/remove/": "Proving a passkey before removing a factor needs the browser's "
    "authenticator.",
    "accounts/passkeys/<int:pk>/remove/": "Removing a passkey needs the signed-in person proving a factor in the "
    "browser.",
    "corrections/<int:pk>/approve/passkey-challenge/": "A passkey assertion comes from the browser's authenticator; "
    "the API approves with a TOTP code (POST /api/v1/corrections/{id}/approve/).",
}

_DECLARED_METHODS = "request_method_list"  # the closure variable of django.views.decorators.http


def _declared_methods(callback) -> set[str] | None:
    """The methods a require_http_methods/require_POST/require_safe decorator allows, if any."""
    function = callback
    while function is not None:
        cells = dict(zip(function.__code__.co_freevars, function.__closure__ or (), strict=True))
        if _DECLARED_METHODS in cells:
            return set(cells[_DECLARED_METHODS].cell_contents)
        function = getattr(function, "__wrapped__", None)
    return None


def _reads_the_method_or_post(callback) -> bool:
    """Whether the view's code, or a function of its module it calls (transitively), reads
    request.POST or request.method (code, not docstrings or comments: parsed, not grepped)."""
    view = inspect.unwrap(callback)
    module = inspect.getmodule(view)
    seen, todo = {view}, [view]
    while todo:
        tree = ast.parse(textwrap.dedent(inspect.getsource(todo.pop())))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("POST", "method")
                and isinstance(node.value, ast.Name)
                and node.value.id == "request"
            ):
                return True
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                helper = getattr(module, node.func.id, None)
                if inspect.isfunction(helper) and helper.__module__ == module.__name__ and helper not in seen:
                    seen.add(helper)
                    todo.append(inspect.unwrap(helper))
    return False


def takes_post(callback) -> bool:
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is not None:
        return hasattr(view_class, "post") and "post" in view_class.http_method_names
    declared = _declared_methods(callback)
    if declared is not None:
        return "POST" in declared
    return _reads_the_method_or_post(callback)


PAGE_ROUTES = [(route, callback) for route, callback in routes() if not route.startswith("api/")]
WRITE_ROUTES = sorted(route for route, callback in PAGE_ROUTES if takes_post(callback))


def _served_schema(client, make_user) -> dict:
    """The schema the API serves at /api/schema/ (to a signed-in person, as SERVE_PERMISSIONS asks)."""
    client.force_login(make_user(Role.AUDITOR))
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.status_code
    return json.loads(response.content)


def test_the_walk_finds_the_page_forms_and_only_them():
    """The detector is not vacuous: it sees the forms (a class view, require_POST, a shared helper,
    a method check) and leaves out read-only pages (require_safe, a POST-refusing decorator alone)."""
    found = set(WRITE_ROUTES)
    assert {
        "accounts/login/",  # class view
        "incidents/<ref:ref>/drill-report/",  # @require_POST
        "incidents/<ref:ref>/assign/",  # through _incident_action
        "audit/incidents/<ref:ref>/access/",  # `if request.method == "POST"`
    } <= found
    read_only = {
        "playbooks/",  # @require_safe
        "drills/reports/<int:report_id>/",  # role_required(write_roles=...) alone: a POST just renders
        "incidents/<ref:ref>/",
        "audit/",
    }
    assert not read_only & found


def test_every_page_write_route_has_an_api_operation_or_a_reason(client, make_user):
    paths = _served_schema(client, make_user)["paths"]
    served = {
        f"{method.upper()} {path}": operation for path, item in paths.items() for method, operation in item.items()
    }
    unmapped = [route for route in WRITE_ROUTES if route not in PAGE_WRITES and route not in BROWSER_ONLY]
    assert not unmapped, (
        f"These page routes take a POST but have no API counterpart: {unmapped}. Add the API operation "
        "(calling the same service as the page) and map it in PAGE_WRITES, or say in BROWSER_ONLY why the "
        "route is browser-only."
    )
    assert not set(PAGE_WRITES) & set(BROWSER_ONLY)
    mapped = [operation for route in WRITE_ROUTES for operation in PAGE_WRITES.get(route, [])]
    missing = [operation for operation in mapped if operation not in served]
    assert not missing, f"mapped to operations the schema at /api/schema/ does not serve: {missing}"
    for operation in mapped:  # each documents how it refuses, with a description a person can read
        errors = {code: answer for code, answer in served[operation]["responses"].items() if code.startswith("4")}
        assert errors, f"{operation} documents no error answer"
        assert all(answer.get("description") for answer in errors.values()), operation


def test_the_tables_name_only_page_write_routes():
    stale = (set(PAGE_WRITES) | set(BROWSER_ONLY)) - set(WRITE_ROUTES)
    assert not stale, f"no longer page write routes (remove them from the tables): {sorted(stale)}"


def test_every_browser_only_route_says_why():
    assert all(len(reason) > 20 for reason in BROWSER_ONLY.values())


def test_the_new_operations_answer_a_person_readably(api_for, make_user, make_incident):
    """The operations this issue added (commander, access) refuse nonsense with a field-level body."""
    leader = api_for(make_user(Role.LEADERSHIP))
    incident = make_incident(restricted=True)
    for path, field in (("assign/", "commander"), ("access/", "user"), ("access/revoke/", "user")):
        response = leader.post(f"/api/v1/incidents/{incident.ref}/{path}", {}, format="json")
        assert response.status_code == 400, (path, response.status_code)
        body = response.json()
        assert body["code"] == "invalid" and body["detail"] and field in body["errors"], (path, body)
