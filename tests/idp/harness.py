"""A real OpenID Connect provider for the tests: tests/idp as a subprocess on a free port.

It signs ID tokens with an RSA key made at start, keeps its people in its own SQLite file in a
temporary directory, and serves its sign-in form, /o/authorize/, /o/token/, /o/userinfo/, its
JWKS and discovery document. Tests add people and set their groups through its test-only admin
endpoint, as an administrator would at the company's provider.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.stack import REPO, free_port, wait_for

CLIENT_ID = "failsafe-tests"


@dataclass
class Provider:
    url: str
    admin_token: str
    client_secret: str
    log: Path

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    def _post(self, path: str, data: dict) -> dict:
        response = requests.post(f"{self.url}{path}", json=data, timeout=10,
                                 headers={"Authorization": f"Bearer {self.admin_token}"})  # fmt: skip
        response.raise_for_status()
        return response.json()

    def put_user(self, username: str, *, groups: list[str], password: str = "idp-pass-123", **profile) -> str:
        """Create or update a person at the provider; returns their subject (`sub`)."""
        return self._post("/test-admin/users/", {"username": username, "password": password, "groups": groups,
                                                 **profile})["sub"]  # fmt: skip

    def register_client(self, *redirect_uris: str) -> None:
        self._post("/test-admin/clients/", {"client_id": CLIENT_ID, "client_secret": self.client_secret,
                                            "redirect_uris": list(redirect_uris)})  # fmt: skip

    def settings_for_failsafe(self, **extra) -> dict:
        return {
            "FAILSAFE_OIDC_CLIENT_ID": CLIENT_ID,
            "FAILSAFE_OIDC_CLIENT_SECRET": self.client_secret,
            "FAILSAFE_OIDC_ISSUER": self.issuer,
            "FAILSAFE_OIDC_PROVIDER_NAME": "Test IdP",
            "FAILSAFE_OIDC_SCOPES": "openid email profile groups",
            "FAILSAFE_OIDC_ROLE_MAP": "ai-safety-oncall=responder,ai-safety-execs=leadership",
            "FAILSAFE_OIDC_CONTACT": "the AI safety operations team (#ai-safety-ops)",
            **extra,
        }

    def sign_in(self, authorize_url: str, username: str, password: str = "idp-pass-123") -> str:
        """Sign in at the provider's own form (a plain HTTP client, as a browser would) and return
        where it sends the person back to: Failsafe's callback URL with the code and state."""
        browser = requests.Session()
        url = authorize_url
        for _ in range(10):
            response = browser.get(url, allow_redirects=False, timeout=10)
            if response.status_code == 200 and urlsplit(response.url).path == "/login/":
                response = browser.post(
                    response.url,
                    # `next` stays in the query string, where the provider's form posts it from.
                    data={"username": username, "password": password,
                          "csrfmiddlewaretoken": browser.cookies["idp_csrftoken"]},
                    headers={"Referer": response.url}, allow_redirects=False, timeout=10,
                )  # fmt: skip
                if response.status_code != 302:
                    raise AssertionError(f"the provider refused {username}'s password")
            if response.status_code != 302:
                raise AssertionError(f"unexpected {response.status_code} from the provider at {url}")
            url = urljoin(url, response.headers["Location"])
            if not url.startswith(self.url):
                return url
        raise AssertionError("too many redirects at the provider")


@pytest.fixture(scope="session")
def idp(tmp_path_factory):
    """The provider, started once for the session."""
    workdir = tmp_path_factory.mktemp("idp")
    port = free_port()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    provider = Provider(url=f"http://127.0.0.1:{port}", admin_token=secrets.token_urlsafe(24),
                        client_secret=secrets.token_urlsafe(32), log=workdir / "idp.log")  # fmt: skip
    env = {
        **os.environ,
        "IDP_SECRET_KEY": secrets.token_urlsafe(40),
        "IDP_DB": str(workdir / "idp.sqlite3"),
        "IDP_RSA_PRIVATE_KEY": pem.decode(),
        "IDP_ISSUER": provider.issuer,
        "IDP_ADMIN_TOKEN": provider.admin_token,
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with provider.log.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "tests.idp.serve", str(port)], cwd=REPO, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:

        def answering():
            if process.poll() is not None:
                raise RuntimeError(f"the test provider exited:\n{provider.log.read_text()[-3000:]}")
            try:
                return requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=1).ok
            except requests.RequestException:
                return False

        wait_for(answering, timeout=60, interval=0.2, what="the test OpenID provider")
        yield provider
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
