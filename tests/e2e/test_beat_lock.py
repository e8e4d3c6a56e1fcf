"""Beat started twice by mistake, on one real Redis: only one schedules (celery-redbeat's lock).

Real processes: a redis-server of the test's own, beats started from the Procfile's `beat` line
(through `python -m config.procfile --beat 2`, and one by one), counted by the task messages they
put on the broker. corrections.relay_outbox is due every 2 s; two schedulers would send twice that.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time

import pytest
import redis

from config.procfile import REPO, read_procfile
from tests.conftest import skip_or_fail
from tests.e2e.stack import Stack, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.slow]  # a redis-server of its own
RELAY_TASK = "corrections.relay_outbox"
RELAY_EVERY = 2.0  # s: config/settings.py CELERY_BEAT_SCHEDULE["relay-outbox"]
LOCK_SECONDS = 4  # a short lock, so a takeover is quick to see


@pytest.fixture
def broker(tmp_path):
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    stack = Stack(workdir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                  extra_env={"FAILSAFE_BEAT_LOCK_SECONDS": str(LOCK_SECONDS)})  # fmt: skip
    stack.start_redis()
    try:
        yield stack
    finally:
        stack.stop_all()


def relay_sends(stack: Stack) -> int:
    """How many relay_outbox messages beat has put on the `sweeps` queue (no worker takes them)."""
    client = redis.Redis.from_url(stack.redis_url)
    messages = [json.loads(raw) for raw in client.lrange("sweeps", 0, -1)]
    return sum(1 for message in messages if message["headers"]["task"] == RELAY_TASK)


def lock_holders(stack: Stack, *names: str) -> list[str]:
    return [name for name in names if "beat: Acquired lock" in stack.log_tail(name, lines=10_000)]


def test_two_beats_from_the_runner_schedule_each_task_once(broker):
    broker._spawn("layout", [sys.executable, "-m", "config.procfile", "--web", "0", "--worker", "0",
                             "--gateway", "0", "--beat", "2"])  # fmt: skip
    output = lambda: broker.log_tail("layout", lines=10_000)  # noqa: E731
    wait_for(lambda: output().count("beat: Starting...") == 2, timeout=60, what="both beats to start")
    wait_for(lambda: "beat: Acquired lock" in output(), timeout=30, what="one beat to take the lock")
    time.sleep(1)  # whatever was due at start-up has been sent
    before, started = relay_sends(broker), time.monotonic()
    time.sleep(10)
    sent, elapsed = relay_sends(broker) - before, time.monotonic() - started

    expected = elapsed / RELAY_EVERY
    assert expected - 2 <= sent <= expected + 1, f"{sent} relay sends in {elapsed:.1f}s: one beat sends ~{expected:.0f}"
    assert output().count("beat: Acquired lock") == 1
    assert broker.processes["layout"].poll() is None  # the second beat is still there, waiting for the lock
    holder = next(line for line in output().splitlines() if "beat: Acquired lock" in line).split("|")[0].split()[-1]
    assert holder in ("beat.1", "beat.2")


def test_the_waiting_beat_takes_over_when_the_lock_holder_is_killed(broker):
    command = read_procfile(REPO / "Procfile")["beat"]
    env_path = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"
    broker.env["PATH"] = env_path
    for name in ("beat-a", "beat-b"):
        broker._spawn(name, ["/bin/sh", "-c", f"exec {command}"])
        wait_for(lambda name=name: "beat: Starting..." in broker.log_tail(name, lines=10_000), timeout=60,
                 what=f"{name} to start")  # fmt: skip
    holders = wait_for(lambda: lock_holders(broker, "beat-a", "beat-b"), timeout=30, what="a lock holder")
    time.sleep(LOCK_SECONDS + 2)  # longer than the lock: the holder keeps renewing it, the other keeps waiting
    assert lock_holders(broker, "beat-a", "beat-b") == holders and len(holders) == 1
    (holder,) = holders
    waiting = "beat-b" if holder == "beat-a" else "beat-a"

    broker.stop(holder, sig=signal.SIGKILL)  # no clean shutdown: the lock is not released, it expires
    killed_at, sends_at_kill = time.monotonic(), relay_sends(broker)
    wait_for(lambda: lock_holders(broker, waiting), timeout=LOCK_SECONDS + 10, interval=0.2,
             what=f"{waiting} to take the lock over")  # fmt: skip
    took_over_after = time.monotonic() - killed_at
    assert took_over_after <= LOCK_SECONDS + 3  # the lock's expiry plus one retry of the waiting beat
    wait_for(lambda: relay_sends(broker) >= sends_at_kill + 2, timeout=10, what="the new holder to send")


def test_beat_rides_out_a_redis_restart_and_schedules_again(broker):
    """Redis restarts empty (lock and schedule gone): beat keeps going, takes the lock again, sends again."""
    command = read_procfile(REPO / "Procfile")["beat"]
    broker.env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"
    broker._spawn("beat", ["/bin/sh", "-c", f"exec {command}"])
    wait_for(lambda: relay_sends(broker) >= 1, timeout=60, what="beat's first relay send")

    broker.stop("redis")
    time.sleep(LOCK_SECONDS + 1)  # longer than the lock
    assert broker.processes["beat"].poll() is None, broker.log_tail("beat")
    broker.start_redis()  # same port, empty

    wait_for(lambda: relay_sends(broker) >= 2, timeout=30, what="relay sends after Redis came back")
    assert broker.processes["beat"].poll() is None
    log = broker.log_tail("beat", lines=10_000)
    assert "Redis is unreachable" in log and log.count("beat: Acquired lock") == 2
