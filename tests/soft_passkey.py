"""A software passkey for service-level tests: a real P-256 key that answers WebAuthn ceremonies
as a browser with an authenticator would (attestation "none", ES256 signatures), so the server's
verification (py_webauthn through django-otp-webauthn) runs unmodified. The browser journey uses
Chromium's own virtual authenticator instead (tests/e2e/test_passkey_journey.py)."""

from __future__ import annotations

import hashlib
import json
import os
from base64 import urlsafe_b64encode

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

RP_ID = "localhost"
ORIGIN = "http://localhost:8000"
USER_PRESENT, USER_VERIFIED, ATTESTED = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftPasskey:
    def __init__(self, *, rp_id: str = RP_ID, origin: str = ORIGIN):
        self.rp_id, self.origin = rp_id, origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0

    def _cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return json.dumps(data).encode()

    def create(self, options: dict) -> str:
        """The browser's answer to navigator.credentials.create(options), as JSON text."""
        assert options["rp"]["id"] == self.rp_id
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([USER_PRESENT | USER_VERIFIED | ATTESTED])
            + self.sign_count.to_bytes(4, "big")
            + bytes(16)  # AAGUID
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self._cose_public_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], None)
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation),
                         "transports": ["internal"]},
            "clientExtensionResults": {"credProps": {"rk": True}},
        })  # fmt: skip

    def get(self, options: dict, *, origin: str | None = None) -> str:
        """The browser's answer to navigator.credentials.get(options), as JSON text."""
        self.sign_count += 1
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([USER_PRESENT | USER_VERIFIED])
            + self.sign_count.to_bytes(4, "big")
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                         "signature": b64url(signature), "userHandle": None},
            "clientExtensionResults": {},
        })  # fmt: skip


def enrol(actor, passkey: SoftPasskey | None = None, **proof) -> SoftPasskey:
    """Register a software passkey for the actor through the services, as the settings page does."""
    from accounts import services

    passkey = passkey or SoftPasskey()
    options = services.passkey_registration_begin(actor=actor, **proof)
    services.passkey_registration_complete(actor=actor, answer=passkey.create(options), name="soft key")
    return passkey
