"""The ledger verbs of accounts: sign-in factors, API tokens, roles and lockouts (see incidents.events)."""

from __future__ import annotations

from incidents.events import LedgerVerb, register_verbs


@register_verbs
class AccountEvent(LedgerVerb):
    OTP_DEVICE_STARTED = "otp.device_started"
    OTP_DEVICE_CONFIRMED = "otp.device_confirmed"
    OTP_DEVICE_REMOVED = "otp.device_removed"
    API_TOKEN_ISSUED = "accounts.api_token_issued"
    ROLES_CHANGED = "accounts.roles_changed"
    LOCKOUT_CLEARED = "accounts.lockout_cleared"
