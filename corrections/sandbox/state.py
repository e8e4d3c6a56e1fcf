"""The sandbox gateway's state on disk, and `seed()` to fill it without the gateway running.

Three JSON files in the state directory, each written atomically (temp file + os.replace):

- state.json   accounts, deployments, corrections and the idempotency log. A correction and the
               key that applied it are written together, fsynced, so a crash never leaves one
               without the other and a restart keeps every active correction.
- replay.json  signatures already accepted, kept until their timestamp leaves the skew window.
- rate.json    the sliding request windows of the rate limits in force.

Every read-modify-write holds a thread lock and an flock on `.lock`, and re-reads a file another
process replaced (e.g. `seed()` run by seed_demo while the gateway is up), so nothing is lost.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from corrections.sandbox.vocabulary import ACCESS_TIERS

STATE_FILE = "state.json"
REPLAY_FILE = "replay.json"
RATE_FILE = "rate.json"
LOCK_FILE = ".lock"
FORMAT = 1


class StateError(Exception):
    """The state directory holds something the gateway cannot read; it refuses to guess."""


def empty_state() -> dict[str, Any]:
    return {"format": FORMAT, "accounts": {}, "deployments": {}, "corrections": {}, "idempotency": {}}


def write_json_atomically(path: Path, data: Any, *, durable: bool) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, sort_keys=True, separators=(",", ":"))
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    if durable:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class _JsonFile:
    """One file's contents in memory, re-read only when another writer has replaced it."""

    def __init__(self, path: Path, default, *, durable: bool, strict: bool):
        self.path = path
        self.default = default
        self.durable = durable
        self.strict = strict  # a corrupt state.json stops the gateway; a corrupt cache is reset
        self.data = default()
        self._seen: tuple | None = None

    def refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._seen is not None:
                self.data, self._seen = self.default(), None
            return
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        if signature == self._seen:
            return
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if self.strict:
                raise StateError(f"{self.path} is not valid gateway state: {exc}") from exc
            data = self.default()
        self.data, self._seen = data, signature

    def save(self) -> None:
        write_json_atomically(self.path, self.data, durable=self.durable)
        st = os.stat(self.path)
        self._seen = (st.st_ino, st.st_mtime_ns, st.st_size)


class Store:
    """The state directory. Use `with store.locked():` around every read or change."""

    def __init__(self, state_dir: str | os.PathLike):
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._state = _JsonFile(self.dir / STATE_FILE, empty_state, durable=True, strict=True)
        self._replay = _JsonFile(self.dir / REPLAY_FILE, dict, durable=False, strict=False)
        self._rate = _JsonFile(self.dir / RATE_FILE, dict, durable=False, strict=False)
        self._thread_lock = threading.Lock()
        with self.locked():  # fail now, at start, on unreadable state
            self._check_format()

    @contextmanager
    def locked(self) -> Iterator[Store]:
        with self._thread_lock:
            fd = os.open(self.dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                for f in (self._state, self._replay, self._rate):
                    f.refresh()
                yield self
            finally:
                os.close(fd)  # releases the flock

    def _check_format(self) -> None:
        state = self._state.data
        if state.get("format") != FORMAT:
            raise StateError(f"{self._state.path} has format {state.get('format')!r}; expected {FORMAT}.")
        for key, default in empty_state().items():
            state.setdefault(key, default)

    @property
    def state(self) -> dict[str, Any]:
        return self._state.data

    @property
    def replay(self) -> dict[str, int]:
        return self._replay.data

    @property
    def rate(self) -> dict[str, list[float]]:
        return self._rate.data

    def save_state(self) -> None:
        self._state.save()

    def save_replay(self) -> None:
        self._replay.save()

    def save_rate(self) -> None:
        self._rate.save()


def seed(
    state_dir: str | os.PathLike,
    *,
    accounts: Iterable[Mapping[str, Any]] = (),
    deployments: Iterable[Mapping[str, Any]] = (),
) -> dict[str, int]:
    """Create or update accounts and deployments in a state directory; safe to repeat.

    accounts:    [{"account_id": "acct-alice", "key": "sk-demo-alice", "tier": "verified"}, ...]
    deployments: [{"slug": "atlas-api", "model": "atlas", "current_version": "atlas-2.0",
                   "versions": ["atlas-1.9", "atlas-2.0"]}, ...]   ("versions" is optional)

    Accounts and deployments not named are left alone, as are corrections and the idempotency
    log. Works whether or not the gateway is running. Returns how many entries were written.
    """
    accounts = [_account(a) for a in accounts]
    deployments = [_deployment(d) for d in deployments]
    store = Store(state_dir)
    with store.locked():
        state = store.state
        changed = 0
        for account_id, record in accounts:
            if state["accounts"].get(account_id) != record:
                state["accounts"][account_id] = record
                changed += 1
        owners: dict[str, str] = {}
        for account_id, record in state["accounts"].items():
            if owners.setdefault(record["key"], account_id) != account_id:
                raise ValueError(f"Accounts {owners[record['key']]} and {account_id} share one API key.")
        for slug, record in deployments:
            if state["deployments"].get(slug) != record:
                state["deployments"][slug] = record
                changed += 1
        if changed:
            store.save_state()
    return {"accounts": len(accounts), "deployments": len(deployments), "changed": changed}


def _account(spec: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    account_id, key, tier = spec.get("account_id"), spec.get("key"), spec.get("tier", "standard")
    if not isinstance(account_id, str) or not account_id:
        raise ValueError(f"account_id is required: {spec!r}")
    if not isinstance(key, str) or not key:
        raise ValueError(f"Account {account_id} needs an API key.")
    if tier not in ACCESS_TIERS:
        raise ValueError(f"Account {account_id} has unknown tier {tier!r}; choose from {sorted(ACCESS_TIERS)}.")
    return account_id, {"key": key, "tier": tier}


def _deployment(spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    slug, model, current = spec.get("slug"), spec.get("model"), spec.get("current_version")
    for name, value in (("slug", slug), ("model", model), ("current_version", current)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"Deployment {name} is required: {spec!r}")
    versions = spec.get("versions") or []
    if not isinstance(versions, list | tuple) or not all(isinstance(v, str) and v for v in versions):
        raise ValueError(f"Deployment {slug} versions must be a list of names.")
    return slug, {"model": model, "current_version": current, "versions": sorted({*versions, current})}
