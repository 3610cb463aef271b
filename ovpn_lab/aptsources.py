"""Read the host's Debian mirrors from its apt configuration.

The lab uses whatever Debian mirror the host is configured with, so it works
wherever the host's own apt works. OVPN_LAB_MIRROR / OVPN_LAB_SECURITY_MIRROR
override the discovery.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APT_DIR = Path("/etc/apt")


@dataclass(frozen=True)
class Mirrors:
    main: str
    security: str


def _entries_deb822(text: str) -> list[tuple[list[str], list[str]]]:
    out = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            out.append((fields.get("uris", "").split(), fields.get("suites", "").split()))
    return out


def _entries_list(text: str) -> list[tuple[list[str], list[str]]]:
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 3 and words[0] == "deb":
            if words[1].startswith("["):  # options like [signed-by=...]
                while words and not words[0].endswith("]"):
                    words.pop(0)
                words.pop(0)
                words.insert(0, "deb")
            out.append(([words[1]], [words[2]]))
    return out


def host_entries(apt_dir: Path = APT_DIR) -> list[tuple[list[str], list[str]]]:
    entries = []
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for f in files:
        if not f.is_file():
            continue
        text = f.read_text(errors="replace")
        if f.suffix == ".sources":
            entries += _entries_deb822(text)
        elif f.suffix == ".list" or f.name == "sources.list":
            entries += _entries_list(text)
    return entries


def find_mirrors(suite: str, apt_dir: Path = APT_DIR) -> Mirrors:
    """Mirror URIs serving `suite` and `suite`-security (the host's own mirrors)."""
    main = os.environ.get("OVPN_LAB_MIRROR")
    security = os.environ.get("OVPN_LAB_SECURITY_MIRROR")
    entries = [(uris, suites) for uris, suites in host_entries(apt_dir) if uris]
    for uris, suites in entries:
        if main is None and suite in suites:
            main = uris[0]
        if security is None and f"{suite}-security" in suites:
            security = uris[0]
    # A Debian mirror serves every release: another release than the host's
    # comes from the mirrors the host uses for its own.
    for uris, suites in entries:
        if main is None and any(not s.endswith("-security") for s in suites):
            main = uris[0]
        if security is None and any(s.endswith("-security") for s in suites):
            security = uris[0]
    if main is None:
        raise RuntimeError(
            f"no apt source for Debian {suite!r} on this host; set OVPN_LAB_MIRROR"
        )
    if security is None:
        raise RuntimeError(
            f"no apt source for {suite}-security on this host; set OVPN_LAB_SECURITY_MIRROR"
        )
    return Mirrors(main=main.rstrip("/"), security=security.rstrip("/"))
