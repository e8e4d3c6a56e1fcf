"""Who runs an incident and who may see a restricted one, through the API: assigning its commander
(the incident page's "Assign commander") and granting or revoking one person's access (the audit
access page). Each view calls the page's own service in incidents.services, so the rules, the
locks and the ledger events are the same whichever way the change arrives."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response

from accounts.api.base import ApiView, actor_of
from accounts.models import User
from config.api import CanWrite, error_responses
from config.strict import StrictSerializer, TextField
from incidents import audit, services
from incidents.api.serializers import IncidentSerializer
from incidents.api.views import incident_or_404

TAGS = ["incidents"]
USERNAME_MAX = User._meta.get_field("username").max_length


class GrantsAccess(permissions.BasePermission):
    """Commanders, leadership and admins, as on the access page; auditors and responders get 403."""

    message = "Only an incident commander, leadership or an admin may see or change who can see an incident."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_role(*services.COMMANDER_ROLES))


def _person(username: str, *, with_a_role: bool) -> User:
    """The person named, if they may be chosen: as on the pages, only active people holding a role
    can be made commander or granted access; a revoke may name anyone (the service checks the grant)."""
    people = User.objects.filter(is_active=True, groups__isnull=False).distinct() if with_a_role else User.objects
    person = people.filter(username=username).first()
    if person is None:
        raise serializers.ValidationError(
            f"No active person with a role is called {username!r}."
            if with_a_role
            else f"No one is called {username!r}."
        )
    return person


# --- serializers --------------------------------------------------------------------------------


class CommanderAssignSerializer(StrictSerializer):
    commander = TextField(
        max_length=USERNAME_MAX,
        help_text="Username of an active incident commander, leadership member or admin; they join the "
        "incident's participants (and, on a restricted incident, may see it).",
    )

    def validate_commander(self, username: str) -> User:
        return _person(username, with_a_role=True)


class AccessChangeSerializer(StrictSerializer):
    user = TextField(max_length=USERNAME_MAX, help_text="Username of the person.")
    reason = TextField(max_length=2000, help_text="Why; recorded in the ledger with the change.")

    def validate_user(self, username: str) -> User:
        return _person(username, with_a_role=self.context["granting"])


class PersonSerializer(serializers.Serializer):
    username = serializers.CharField()
    display_name = serializers.CharField()


class AccessSerializer(serializers.Serializer):
    ref = serializers.CharField()
    restricted = serializers.BooleanField(help_text="Only a restricted incident takes grants.")
    granted = PersonSerializer(many=True, help_text="People holding a grant to see it, by username.")


def _access(incident) -> dict:
    return {"ref": incident.ref, "restricted": incident.restricted, "granted": list(audit.access_grants_for(incident))}


# --- views --------------------------------------------------------------------------------------


class IncidentAssignView(ApiView):
    permission_classes = [CanWrite]

    @extend_schema(
        request=CommanderAssignSerializer,
        responses={
            200: IncidentSerializer,
            **error_responses(
                400, 403, 404,
                descriptions={
                    400: "Invalid input, or the person is not an incident commander; `errors.commander` says which.",
                    403: "Only an incident commander, leadership or an admin assigns the commander.",
                },
            ),
        },
        tags=TAGS,
    )  # fmt: skip
    def post(self, request, ref: str):
        """Make someone the incident's commander (as the incident page does); recorded as `incident.assigned`."""
        incident = incident_or_404(request, ref)
        params = CommanderAssignSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        incident = services.incident_assign(
            actor=actor_of(request), incident=incident, commander=params.validated_data["commander"]
        )
        return Response(IncidentSerializer(incident).data)


_ACCESS_ERRORS = {
    403: "Only an incident commander, leadership or an admin may do this.",
    404: "No such incident, or not visible to you.",
}


class IncidentAccessView(ApiView):
    permission_classes = [GrantsAccess]

    @extend_schema(
        responses={200: AccessSerializer, **error_responses(403, 404, descriptions=_ACCESS_ERRORS)}, tags=TAGS
    )
    def get(self, request, ref: str):
        """Who holds a grant to see this incident (leadership sees every incident without one)."""
        return Response(AccessSerializer(_access(incident_or_404(request, ref))).data)

    @extend_schema(
        request=AccessChangeSerializer,
        responses={
            201: AccessSerializer,
            **error_responses(
                400, 403, 404, 409,
                descriptions=_ACCESS_ERRORS | {
                    400: "Invalid input: no such active person with a role, leadership (who needs no grant), "
                    "or no reason; `errors` names the field.",
                    409: "The incident is not restricted, or the person already has access.",
                },
            ),
        },
        tags=TAGS,
    )  # fmt: skip
    def post(self, request, ref: str):
        """Let one person see a restricted incident, with a reason; recorded as `incident.access_granted`."""
        return _change_access(request, ref, revoke=False)


class IncidentAccessRevokeView(ApiView):
    permission_classes = [GrantsAccess]

    @extend_schema(
        request=AccessChangeSerializer,
        responses={
            200: AccessSerializer,
            **error_responses(
                400, 403, 404, 409,
                descriptions=_ACCESS_ERRORS | {
                    400: "Invalid input: no such person, or no reason; `errors` names the field.",
                    409: "The incident is not restricted, or the person holds no grant to revoke.",
                },
            ),
        },
        tags=TAGS,
    )  # fmt: skip
    def post(self, request, ref: str):
        """Take back one person's grant, with a reason; recorded as `incident.access_revoked`."""
        return _change_access(request, ref, revoke=True)


def _change_access(request, ref: str, *, revoke: bool) -> Response:
    incident = incident_or_404(request, ref)
    params = AccessChangeSerializer(data=request.data, context={"granting": not revoke})
    params.is_valid(raise_exception=True)
    services.incident_grant_access(actor=actor_of(request), incident=incident, revoke=revoke, **params.validated_data)
    body = AccessSerializer(_access(incident)).data
    return Response(body, status=status.HTTP_200_OK if revoke else status.HTTP_201_CREATED)
