"""The CI audit step (.ci/audit.py): real pip-audit runs against a vulnerability source on loopback.

The source is a small OSV-compatible HTTP server started here (pip-audit's `--osv-url`), so each
outcome the script promises is seen for real: unreachable -> says so and passes, vulnerable ->
fails, clean -> passes, a 5xx source -> unreachable, an ignored finding -> passes.
"""

import importlib.util
import json
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AUDIT = ROOT / ".ci" / "audit.py"


def osv_vuln(package: str, vuln_id: str, fixed: str) -> dict:
    return {
        "id": vuln_id,
        "summary": "A test finding",
        "aliases": ["CVE-2099-0001"],
        "affected": [
            {
                "package": {"name": package, "ecosystem": "PyPI"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
    }


class Source(ThreadingHTTPServer):
    """Answers every OSV query with `answer` (a JSON body) or with HTTP `status`."""

    answer: dict = {}
    status = 200
    queries: list[dict]


class Handler(BaseHTTPRequestHandler):
    server: Source

    def do_POST(self):
        self.server.queries.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        body = json.dumps(self.server.answer if self.server.status == 200 else {"error": "down"}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def source():
    server = Source(("127.0.0.1", 0), Handler)
    server.queries = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def lock(tmp_path):
    """One package's entry, hashes and all, copied from the real runtime lock."""
    text = (ROOT / "requirements.txt").read_text()
    entry = re.search(r"^requests==\S+ \\\n(?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+", text, re.M)
    assert entry, "requests is no longer in requirements.txt; pick another package for this test"
    path = tmp_path / "requirements.txt"
    path.write_text(entry.group(0))
    return path


def version_in(lock: Path) -> str:
    return re.search(r"==(\S+)", lock.read_text()).group(1)


def run_audit(lock: Path, url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(AUDIT), "-r", str(lock), "--vulnerability-service", "osv", "--osv-url", url]
    command += ["--cache-dir", str(tmp_path / "cache"), "--timeout", "5", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_source_is_reported_and_does_not_fail_the_run(lock, tmp_path):
    done = run_audit(lock, f"http://127.0.0.1:{closed_port()}/v1/query", tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit: UNREACHABLE" in done.stdout
    assert "NOT audited" in done.stdout
    assert "OK" not in done.stdout


def test_a_source_answering_with_errors_counts_as_unreachable(lock, source, tmp_path):
    source.status = 503

    done = run_audit(lock, f"http://127.0.0.1:{source.server_port}/v1/query", tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit: UNREACHABLE" in done.stdout
    assert source.queries, "the source was never asked"


def test_a_known_vulnerability_fails_the_run_and_names_the_fix(lock, source, tmp_path):
    source.answer = {"vulns": [osv_vuln("requests", "GHSA-test-0001", fixed="99.0.0")]}

    done = run_audit(lock, f"http://127.0.0.1:{source.server_port}/v1/query", tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    finding = next(line for line in done.stdout.splitlines() if "VULNERABLE" in line)
    assert f"VULNERABLE requests=={version_in(lock)}:" in finding
    assert "GHSA-test-0001" in finding and "CVE-2099-0001" in finding
    assert "fixed in: 99.0.0" in done.stdout
    assert "audit: FAILED" in done.stdout
    assert source.queries == [{"package": {"name": "requests", "ecosystem": "PyPI"}, "version": version_in(lock)}]


def test_a_clean_answer_passes_and_says_how_much_was_audited(lock, source, tmp_path):
    done = run_audit(lock, f"http://127.0.0.1:{source.server_port}/v1/query", tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit: OK, 1 packages audited, no known vulnerabilities" in done.stdout


def test_a_finding_ignored_on_purpose_does_not_fail_the_run(lock, source, tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("ci_audit", AUDIT)
    audit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(audit)
    monkeypatch.setattr(audit, "IGNORED", {"GHSA-test-0001": "no fixed release yet (test)"})
    source.answer = {"vulns": [osv_vuln("requests", "GHSA-test-0001", fixed="99.0.0")]}
    url = f"http://127.0.0.1:{source.server_port}/v1/query"

    code = audit.main(["-r", str(lock), "-s", "osv", "--osv-url", url, "--cache-dir", str(tmp_path / "c")])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 ignored on purpose" in out
    assert "VULNERABLE" not in out


def test_a_missing_lock_file_fails(tmp_path):
    done = subprocess.run(
        [sys.executable, str(AUDIT), "-r", str(tmp_path / "nope.txt")], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 2
    assert "no such lock file" in done.stdout
