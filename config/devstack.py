"""`make run`: migrate, seed the demo, then run web, worker, beat and the sandbox gateway until Ctrl-C.

Zero set-up: SQLite and a filesystem broker, but the real asynchronous path (a Celery worker
and beat in their own processes), not an eager shortcut.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

HOST = os.environ.get("FAILSAFE_HOST", "127.0.0.1")
PORT = os.environ.get("FAILSAFE_PORT", "8000")
GATEWAY_PORT = os.environ.get("FAILSAFE_SANDBOX_PORT", "8100")
SLACK_PORT = os.environ.get("FAILSAFE_LOCAL_SLACK_PORT", "8200")
DEMO_SLACK_TOKEN = "xoxb-failsafe-demo"  # incidents.channels.local_slack.DEMO_TOKEN (no Django imported here)
PY = sys.executable


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], check=True)


def main() -> int:
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("FAILSAFE_BASE_URL", f"http://{HOST}:{PORT}")
    # Slack: the local stand-in, unless a real workspace is configured.
    local_slack = "FAILSAFE_SLACK_API_URL" not in os.environ
    if local_slack:
        os.environ["FAILSAFE_SLACK_API_URL"] = f"http://127.0.0.1:{SLACK_PORT}/api/"
        os.environ.setdefault("FAILSAFE_SLACK_BOT_TOKEN", DEMO_SLACK_TOKEN)
    manage("migrate", "--no-input", "-v", "0")
    manage("seed_demo", "--gateway-url", f"http://127.0.0.1:{GATEWAY_PORT}")
    processes = {
        "web": [PY, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"],
        "worker": [
            PY,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "--concurrency",
            "2",
            "-Q",
            "dispatch,notify,sweeps,default",
        ],
        "beat": [PY, "-m", "celery", "-A", "config", "beat", "-l", "info"],
        "gateway": [PY, "manage.py", "run_sandbox_gateway", "--port", GATEWAY_PORT],
    }
    if local_slack:
        processes["slack"] = [PY, "manage.py", "run_local_slack", "--port", SLACK_PORT]
    children = {name: subprocess.Popen(cmd, start_new_session=True) for name, cmd in processes.items()}
    print(f"\n  Failsafe is running at http://{HOST}:{PORT}/  (API docs: /api/docs/)")
    print(f"  Sandbox gateway (the model's edge) at http://127.0.0.1:{GATEWAY_PORT}/  — try:")
    print(
        f"    curl -s -X POST http://127.0.0.1:{GATEWAY_PORT}/v1/generate -H 'Authorization: Bearer sk-demo-mallory' "
        '-d \'{"prompt": "hi"}\''
    )
    if local_slack:
        print(f"  Local Slack stand-in: what Failsafe posts is at http://127.0.0.1:{SLACK_PORT}/_messages")
    print("  Log in as responder, commander, leader1, leader2, auditor or admin; password failsafe-demo.")
    print("  Ctrl-C stops everything.\n", flush=True)

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"{name} exited with status {child.returncode}; stopping the rest.", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()  # the process itself shuts its own children down cleanly
        deadline = time.monotonic() + 10
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        print("Stopped web, worker, beat and the sandbox gateway.")


if __name__ == "__main__":
    sys.exit(main())
