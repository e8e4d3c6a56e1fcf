"""What an uploaded file is, read from its bytes, never from its name or the browser's type.

The allowlist: PNG, JPEG, GIF and WebP images, PDF, and UTF-8 text (logs, transcripts) with JSON
and CSV told apart. Everything else is refused, and the most dangerous things by name, whatever
the file is called: Windows (MZ), Linux (ELF) and macOS (Mach-O, universal) executables, Java
classes, and scripts that start with a shebang (#!). Archives (ZIP, and so DOCX, JAR, APK) are
refused too: Failsafe cannot look inside them, and they are a common way to carry an executable.

Text is checked over its whole length (valid UTF-8, no NUL byte); `Sniffer` is fed chunk by
chunk while the SHA-256 is computed, so nothing is held in memory whole.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass

from incidents.models.evidence import EvidenceKind

ALLOWED_TEXT = "evidence must be an image (PNG, JPEG, GIF, WebP), a PDF, or UTF-8 text, JSON or CSV"


@dataclass(frozen=True)
class Kind:
    kind: EvidenceKind
    content_type: str
    extensions: tuple[str, ...]


KINDS = {
    EvidenceKind.PNG: Kind(EvidenceKind.PNG, "image/png", (".png",)),
    EvidenceKind.JPEG: Kind(EvidenceKind.JPEG, "image/jpeg", (".jpg", ".jpeg")),
    EvidenceKind.GIF: Kind(EvidenceKind.GIF, "image/gif", (".gif",)),
    EvidenceKind.WEBP: Kind(EvidenceKind.WEBP, "image/webp", (".webp",)),
    EvidenceKind.PDF: Kind(EvidenceKind.PDF, "application/pdf", (".pdf",)),
    EvidenceKind.TEXT: Kind(EvidenceKind.TEXT, "text/plain; charset=utf-8", (".txt", ".log", ".md", ".jsonl")),
    EvidenceKind.JSON: Kind(EvidenceKind.JSON, "application/json", (".json",)),
    EvidenceKind.CSV: Kind(EvidenceKind.CSV, "text/csv; charset=utf-8", (".csv",)),
}

# Refused by name: (leading bytes, what a person is told the file looks like).
REFUSED = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "a Linux executable (ELF)"),
    (b"\xfe\xed\xfa\xce", "a macOS executable (Mach-O)"),
    (b"\xfe\xed\xfa\xcf", "a macOS executable (Mach-O)"),
    (b"\xce\xfa\xed\xfe", "a macOS executable (Mach-O)"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable (Mach-O)"),
    (b"\xca\xfe\xba\xbe", "a macOS universal executable or a Java class"),
    (b"#!", "a script (it starts with #!)"),
    (b"PK\x03\x04", "an archive (ZIP, or a format built on it)"),
    (b"PK\x05\x06", "an archive (ZIP, or a format built on it)"),
    (b"Rar!", "an archive (RAR)"),
    (b"7z\xbc\xaf\x27\x1c", "an archive (7-Zip)"),
    (b"\x1f\x8b", "a compressed file (gzip)"),
)
BOM = codecs.BOM_UTF8
HEAD_BYTES = 16


class Refused(Exception):
    """The file is not acceptable evidence; `message` says what it looks like and what is allowed."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _binary_kind(head: bytes) -> EvidenceKind | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return EvidenceKind.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return EvidenceKind.JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return EvidenceKind.GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return EvidenceKind.WEBP
    if head.startswith(b"%PDF-"):
        return EvidenceKind.PDF
    return None


class Sniffer:
    """Fed the file's chunks in order; `result(name)` then says what it is or raises Refused."""

    def __init__(self) -> None:
        self.head = b""
        self.binary: EvidenceKind | None = None
        self._decided = False
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text_ok = True
        self._json_text: list[str] | None = []  # kept only while small enough to parse
        self._size = 0

    JSON_PARSE_LIMIT = 5 * 1024 * 1024

    def feed(self, chunk: bytes) -> None:
        if not self._decided:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
            if len(self.head) >= HEAD_BYTES:
                self._decide()
        self._size += len(chunk)
        if self.binary is None and self._text_ok:
            self._feed_text(chunk)

    def _decide(self) -> None:
        self._decided = True
        for magic, what in REFUSED:
            if self.head.startswith(magic):
                raise Refused(f"This file looks like {what}; {ALLOWED_TEXT}.")
        self.binary = _binary_kind(self.head)

    def _feed_text(self, chunk: bytes) -> None:
        if b"\x00" in chunk:
            self._text_ok = False
            return
        try:
            text = self._decoder.decode(chunk)
        except UnicodeDecodeError:
            self._text_ok = False
            return
        if self._json_text is not None:
            if self._size > self.JSON_PARSE_LIMIT:
                self._json_text = None
            else:
                self._json_text.append(text)

    def result(self, name: str) -> Kind:
        if not self._decided:
            self._decide()
        if self._size == 0:
            raise Refused("This file is empty.")
        if self.binary is not None:
            return KINDS[self.binary]
        if self._text_ok:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._text_ok = False
        if not self._text_ok:
            raise Refused(f"This file is not a format Failsafe accepts; {ALLOWED_TEXT}.")
        lower = name.lower()
        if lower.endswith(".json") and self._json_text is not None and _is_json("".join(self._json_text)):
            return KINDS[EvidenceKind.JSON]
        if lower.endswith(".csv"):
            return KINDS[EvidenceKind.CSV]
        return KINDS[EvidenceKind.TEXT]


def _is_json(text: str) -> bool:
    try:
        json.loads(text.removeprefix("\ufeff"))
    except (ValueError, RecursionError):
        return False
    return True


def download_name(name: str, kind: Kind) -> str:
    """The name it is downloaded under: the uploader's, with the extension its content earns
    (so "invoice.exe" holding text downloads as "invoice.exe.txt")."""
    if name.lower().endswith(kind.extensions):
        return name
    return f"{name}{kind.extensions[0]}"
