"""Run the Procfile's processes, any number of each, until Ctrl-C or until one of them stops.

    python -m config.procfile --web 1 --worker 2      # beat and gateway: one each by default

Like foreman or honcho, and on purpose no more: each line runs under `sh -c` (so `${VAR:-default}`
works) in its own process group, with `PS=<type>.<n>` and `PORT=<port> + 100 * <type's line> + n - 1`
(foreman's numbering: web.1 on --port, web.2 on --port + 1). Output is prefixed with the process
name. When one process exits, the others are stopped (SIGTERM, then SIGKILL after --stop-timeout)
and the runner exits non-zero. No Django is imported here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


@dataclass(frozen=True)
class Process:
    name: str  # web.1
    command: str
    port: int


def read_procfile(path: Path) -> dict[str, str]:
    """The process types in file order: {"web": "gunicorn ...", ...}. Blank lines and # comments are skipped."""
    types: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = LINE.match(line)
        if match is None:
            raise ValueError(f"{path}:{number}: expected `type: command`, got {raw!r}")
        name, command = match.groups()
        if name in types:
            raise ValueError(f"{path}:{number}: process type {name!r} is defined twice")
        types[name] = command
    return types


def plan(types: dict[str, str], counts: dict[str, int], base_port: int) -> list[Process]:
    """Every process to start, numbered per type, with foreman's ports."""
    return [
        Process(name=f"{name}.{n}", command=command, port=base_port + 100 * index + n - 1)
        for index, (name, command) in enumerate(types.items())
        for n in range(1, counts.get(name, 1) + 1)
    ]


class Runner:
    def __init__(self, processes: Sequence[Process], *, env: dict[str, str], stop_timeout: float, out: IO[str]):
        self.processes = processes
        self.env = env
        self.stop_timeout = stop_timeout
        self.out = out
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.width = max((len(p.name) for p in processes), default=0)
        self.lock = threading.Lock()
        self.pumps: list[threading.Thread] = []

    def say(self, name: str, text: str) -> None:
        with self.lock:
            self.out.write(f"{time.strftime('%H:%M:%S')} {name:<{self.width}} | {text}\n")
            self.out.flush()

    def start(self) -> None:
        for process in self.processes:
            env = {**self.env, "PS": process.name, "PORT": str(process.port)}
            child = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {process.command}"],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stopping it stops its children (gunicorn's, celery's)
            )
            self.children[process.name] = child
            self.say(process.name, f"started with pid {child.pid}: {process.command}")
            pump = threading.Thread(target=self._pump, args=(process.name, child), daemon=True)
            pump.start()
            self.pumps.append(pump)

    def _pump(self, name: str, child: subprocess.Popen[bytes]) -> None:
        assert child.stdout is not None
        for raw in iter(child.stdout.readline, b""):
            self.say(name, raw.decode(errors="replace").rstrip("\n"))

    def wait_for_first_exit(self) -> str:
        while True:
            for name, child in self.children.items():
                if child.poll() is not None:
                    return name
            time.sleep(0.2)

    def stop(self) -> None:
        for name, child in self.children.items():
            if child.poll() is None:
                self.say(name, "stopping (SIGTERM)")
                _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(name, f"still running after {self.stop_timeout:g}s: SIGKILL")
                _signal_group(child, signal.SIGKILL)
                child.wait()
            # The group may hold children that outlive their parent (a killed celery's pool).
            _signal_group(child, signal.SIGKILL)
        for pump in self.pumps:
            pump.join(timeout=2)


def _signal_group(child: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, sig)


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, dict[str, str]]:
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--procfile", type=Path, default=REPO / "Procfile")
    known, _ = first.parse_known_args(argv)
    types = read_procfile(known.procfile)

    parser = argparse.ArgumentParser(prog="python -m config.procfile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--procfile", type=Path, default=REPO / "Procfile", help="default: the repo's Procfile")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")),
                        help="web.1's PORT (default $PORT or 8000)")  # fmt: skip
    parser.add_argument("--stop-timeout", type=float, default=15.0,
                        help="seconds each process gets to stop after SIGTERM before SIGKILL (default 15)")  # fmt: skip
    for name in types:
        parser.add_argument(f"--{name}", type=int, default=1, metavar="N", help=f"{name} processes (default 1)")
    args = parser.parse_args(argv)
    for name in types:
        if getattr(args, name.replace("-", "_")) < 0:
            parser.error(f"--{name} must be 0 or more")
    return args, types


def main(argv: Sequence[str] | None = None) -> int:
    args, types = parse_args(sys.argv[1:] if argv is None else argv)
    counts = {name: getattr(args, name.replace("-", "_")) for name in types}
    processes = plan(types, counts, args.port)
    if not processes:
        print("Nothing to run: every count is 0.", file=sys.stderr)
        return 2
    # `gunicorn`, `celery` and `python` are the ones installed next to this interpreter.
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONUNBUFFERED": "1"}
    runner = Runner(processes, env=env, stop_timeout=args.stop_timeout, out=sys.stdout)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    try:
        runner.start()
        name = runner.wait_for_first_exit()
        runner.say(name, f"exited with status {runner.children[name].returncode}; stopping the rest")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        runner.stop()


if __name__ == "__main__":
    sys.exit(main())
