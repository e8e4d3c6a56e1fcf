"""Audit the locked requirements for known vulnerabilities with pip-audit.

    .venv/bin/python .ci/audit.py [-r LOCKFILE ...] [any other pip-audit option]

Three outcomes, each printed on a line starting with "audit:":
- vulnerabilities found (not ignored below)   -> exit 1, the run fails;
- every locked package audited, none found     -> exit 0;
- the vulnerability source cannot be reached   -> exit 0 with "UNREACHABLE" and the reason: the run
  goes on, the audit did not happen. A source that answers "not found" for every package counts as
  unreachable (a registry mirror without the JSON API does that), never as a clean audit.

Only the hashed locks are audited, with --no-deps: nothing is installed or resolved, so what is
checked is exactly what `make` installs.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCKS = ["requirements-dev.txt", "requirements-load.txt"]

# Findings with no fixed release, ignored on purpose: {vulnerability id: why}. Each entry is removed
# as soon as a fixed version exists (bump the pin in requirements*.in and run `make lock`).
IGNORED: dict[str, str] = {}

# What pip-audit prints when it cannot talk to its vulnerability source at all.
UNREACHABLE_SIGNS = (
    "ConnectionError",
    "Could not connect",
    "Max retries exceeded",
    "Failed to resolve",
    "Connection refused",
    "ProxyError",
    "ReadTimeout",
    "ServiceError",
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-r", "--requirement", action="append", dest="locks", help="lock file (repeatable)")
    args, passthrough = parser.parse_known_args(argv)
    locks = [Path(lock) for lock in args.locks or [ROOT / name for name in DEFAULT_LOCKS]]
    missing = [str(lock) for lock in locks if not lock.is_file()]
    if missing:
        print(f"audit: FAILED, no such lock file: {', '.join(missing)}")
        return 2

    # One pip-audit run per lock: the locks are separate installs and may pin a package differently.
    return max(audit(lock, passthrough) for lock in locks)


def audit(lock: Path, passthrough: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip_audit", "--no-deps", "--disable-pip", "--progress-spinner", "off"]
        command += ["--format", "json", "--output", str(report_path), "--requirement", str(lock)]
        for vuln_id in IGNORED:
            command += ["--ignore-vuln", vuln_id]
        command += passthrough
        print(f"audit: pip-audit on {lock.name}", flush=True)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        report = json.loads(report_path.read_text()) if report_path.is_file() and report_path.stat().st_size else None
    return judge(done, report)


def judge(done: subprocess.CompletedProcess[str], report: dict | None) -> int:
    if report is None:
        output = done.stderr + done.stdout
        if any(sign in output for sign in UNREACHABLE_SIGNS):
            print(f"audit: UNREACHABLE, the vulnerability source cannot be reached ({last_line(output)});")
            print("audit: the locked requirements were NOT audited; not failing the run for it")
            return 0
        print(f"audit: FAILED, pip-audit stopped (exit {done.returncode}):\n{output.strip()}")
        return 2

    dependencies = report.get("dependencies", [])
    skipped = [dep for dep in dependencies if dep.get("skip_reason")]
    audited = [dep for dep in dependencies if not dep.get("skip_reason")]
    if dependencies and not audited:
        print(f"audit: UNREACHABLE, the vulnerability source answered for none of {len(dependencies)} packages")
        print(f"audit: (e.g. {skipped[0]['skip_reason']});")
        print("audit: the locked requirements were NOT audited; not failing the run for it")
        return 0
    for dep in skipped:
        print(f"audit: not audited: {dep['skip_reason']}")

    findings = [(dep, vuln) for dep in audited for vuln in dep.get("vulns", [])]
    for dep, vuln in findings:
        fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
        aliases = ", ".join(vuln.get("aliases") or [])
        print(f"audit: VULNERABLE {dep['name']}=={dep['version']}: {vuln['id']} ({aliases}) fixed in: {fixed}")
        if vuln.get("description"):
            print(f"       {vuln['description'][:300]}")
    if findings:
        print(f"audit: FAILED, {len(findings)} known vulnerabilities in {len(audited)} audited packages")
        return 1
    if done.returncode != 0:
        print(f"audit: FAILED, pip-audit exit {done.returncode}:\n{(done.stderr + done.stdout).strip()}")
        return 2
    ignored = f", {len(IGNORED)} ignored on purpose" if IGNORED else ""
    print(f"audit: OK, {len(audited)} packages audited, no known vulnerabilities{ignored}")
    return 0


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
