"""A local stand-in for the Slack Web API: a threaded HTTP server on a real socket that speaks the
few methods Failsafe uses, so development (`make run`) and tests exercise the real slack_sdk client.

Methods: auth.test, chat.postMessage, conversations.create, conversations.invite,
conversations.setTopic. Every call must carry the bot token (`Authorization: Bearer …`), else
{"ok": false, "error": "invalid_auth"}. Answers look like Slack's ({"ok": true, …} or
{"ok": false, "error": …}). What was posted is kept: in memory (`server.messages`, `server.calls`)
and at GET /_messages as JSON. `server.fail_next(error, status=…, retry_after=…)` makes the next
calls fail, to test transient and permanent handling.

No Django here: the management command run_local_slack serves it on its own.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

MAX_BODY = 1024 * 1024
# The demo workspace: a channel per role (seed_demo routes each role to its channel) and the token
# `make run` gives both sides.
DEMO_TOKEN = "xoxb-failsafe-demo"
DEMO_ROLE_CHANNELS = {
    "responder": ("C0RESPONDERS", "failsafe-responders"),
    "incident_commander": ("C0COMMANDERS", "failsafe-commanders"),
    "leadership": ("C0LEADERSHIP", "failsafe-leadership"),
    "auditor": ("C0AUDITORS", "failsafe-auditors"),
    "admin": ("C0ADMINS", "failsafe-admins"),
}
METHODS = ("auth.test", "chat.postMessage", "conversations.create", "conversations.invite", "conversations.setTopic")


@dataclass
class _Failure:
    error: str
    status: int
    retry_after: int | None


class LocalSlack:
    """The stand-in's state and behaviour; `serve()` puts it on a socket."""

    def __init__(self, *, token: str, team: str = "Failsafe demo") -> None:
        self.token = token
        self.team = team
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []  # chat.postMessage calls, in order
        self.calls: list[tuple[str, dict[str, Any]]] = []  # every authorised call: (method, arguments)
        self.channels: dict[str, dict[str, Any]] = {}  # id -> {"name", "is_private", "members", "topic"}
        self._failures: list[_Failure] = []
        self._ids = itertools.count(1)
        self.server: ThreadingHTTPServer | None = None

    # --- what tests and the command use ----------------------------------------------------------

    def fail_next(self, error: str, *, status: int = 200, retry_after: int | None = None, times: int = 1) -> None:
        """The next `times` calls answer {"ok": false, "error": error} with HTTP `status`."""
        with self.lock:
            self._failures.extend(_Failure(error, status, retry_after) for _ in range(times))

    def add_channel(self, channel_id: str, name: str) -> None:
        with self.lock:
            self.channels[channel_id] = {"name": name, "is_private": False, "members": [], "topic": ""}

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
        """Listen (port 0: any free port) and serve in a daemon thread; returns the server."""
        stand_in = self

        class Handler(_Handler):
            slack = stand_in

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="local-slack", daemon=True).start()
        return self.server

    @property
    def url(self) -> str:
        assert self.server is not None, "serve() first"
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # --- the methods --------------------------------------------------------------------------------

    def answer(self, method: str, args: dict[str, Any], authorization: str) -> tuple[int, dict[str, Any], dict]:
        """(status, body, extra headers) for one call."""
        if method not in METHODS:
            return 404, {"ok": False, "error": "unknown_method"}, {}
        if authorization != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth" if authorization else "not_authed"}, {}
        with self.lock:
            if self._failures:
                failure = self._failures.pop(0)
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
                return failure.status, {"ok": False, "error": failure.error}, headers
            self.calls.append((method, args))
            return 200, getattr(self, "_" + method.replace(".", "_"))(args), {}

    def _ts(self) -> str:
        return f"{time.time():.6f}"

    def _auth_test(self, args):
        return {
            "ok": True,
            "team": self.team,
            "user": "failsafe",
            "team_id": "T0LOCAL",
            "user_id": "U0FAILSAFE",
            "bot_id": "B0FAILSAFE",
            "url": "http://localhost/",
        }

    def _chat_postMessage(self, args):
        channel = str(args.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not (args.get("text") or args.get("blocks")):
            return {"ok": False, "error": "no_text"}
        if channel[0] in "CG" and channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if channel[0] in "UW":
            channel = "D" + channel[1:]  # a DM opens its own conversation
        ts = self._ts()
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        self.messages.append(
            {
                "channel": channel,
                "to": args.get("channel"),
                "text": args.get("text", ""),
                "blocks": blocks or [],
                "metadata": args.get("metadata"),
                "ts": ts,
            }
        )
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": args.get("text", ""), "ts": ts}}

    def _conversations_create(self, args):
        name = str(args.get("name", ""))
        if not name or len(name) > 80 or name != name.lower() or any(c in name for c in " .,"):
            return {"ok": False, "error": "invalid_name_specials" if name else "invalid_name_required"}
        if any(channel["name"] == name for channel in self.channels.values()):
            return {"ok": False, "error": "name_taken"}
        private = str(args.get("is_private", "")).lower() in ("1", "true")
        channel_id = ("G" if private else "C") + f"LOCAL{next(self._ids):05d}"
        self.channels[channel_id] = {"name": name, "is_private": private, "members": [], "topic": ""}
        return {
            "ok": True,
            "channel": {"id": channel_id, "name": name, "is_private": private, "created": int(time.time())},
        }

    def _conversations_invite(self, args):
        channel = self.channels.get(str(args.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "no_user"}
        channel["members"].extend(u for u in users if u not in channel["members"])
        return {"ok": True, "channel": {"id": args["channel"], "name": channel["name"]}}

    def _conversations_setTopic(self, args):
        channel = self.channels.get(str(args.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        channel["topic"] = str(args.get("topic", ""))[:250]
        return {"ok": True, "channel": {"id": args["channel"], "topic": {"value": channel["topic"]}}}


class _Handler(BaseHTTPRequestHandler):
    slack: LocalSlack
    server_version = "local-slack/1"

    def log_message(self, format, *args):  # quiet: tests and make run have their own output
        pass

    def _send(self, status: int, body: Any, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/") == "/_messages":
            with self.slack.lock:
                body = {"messages": list(self.slack.messages), "channels": dict(self.slack.channels)}
            return self._send(200, body)
        return self._send(404, {"ok": False, "error": "unknown_method"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._send(413, {"ok": False, "error": "request_too_large"})
        raw = self.rfile.read(length).decode("utf-8", "replace")
        content_type = self.headers.get("Content-Type", "")
        try:
            args = json.loads(raw or "{}") if "json" in content_type else dict(parse_qsl(raw))
        except ValueError:
            return self._send(200, {"ok": False, "error": "invalid_json"})
        if not isinstance(args, dict):
            return self._send(200, {"ok": False, "error": "invalid_arguments"})
        method = self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        status, body, headers = self.slack.answer(method, args, self.headers.get("Authorization", ""))
        self._send(status, body, headers)
