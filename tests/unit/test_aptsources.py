from __future__ import annotations

import pytest

from ovpn_lab import aptsources

DEB822 = """\
Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def _apt(tmp_path, name, text):
    (tmp_path / "sources.list.d").mkdir(exist_ok=True)
    (tmp_path / "sources.list.d" / name).write_text(text)
    return tmp_path


def test_deb822_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("OVPN_LAB_MIRROR", raising=False)
    monkeypatch.delenv("OVPN_LAB_SECURITY_MIRROR", raising=False)
    m = aptsources.find_mirrors("bookworm", _apt(tmp_path, "debian.sources", DEB822))
    assert m.main == "http://mirror.example/debian"
    assert m.security == "http://mirror.example/debian-security"


def test_one_line_sources_with_options(tmp_path, monkeypatch):
    monkeypatch.delenv("OVPN_LAB_MIRROR", raising=False)
    monkeypatch.delenv("OVPN_LAB_SECURITY_MIRROR", raising=False)
    (tmp_path / "sources.list").write_text(
        "# comment\n"
        "deb [signed-by=/k.gpg arch=amd64] http://a.example/debian/ bookworm main\n"
        "deb-src http://a.example/debian bookworm main\n"
        "deb http://s.example/debian-security bookworm-security main\n"
    )
    m = aptsources.find_mirrors("bookworm", tmp_path)
    assert m.main == "http://a.example/debian"
    assert m.security == "http://s.example/debian-security"


def test_missing_security_suite_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("OVPN_LAB_MIRROR", raising=False)
    monkeypatch.delenv("OVPN_LAB_SECURITY_MIRROR", raising=False)
    (tmp_path / "sources.list").write_text("deb http://a.example/debian bookworm main\n")
    with pytest.raises(RuntimeError, match="OVPN_LAB_SECURITY_MIRROR"):
        aptsources.find_mirrors("bookworm", tmp_path)


def test_environment_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("OVPN_LAB_MIRROR", "http://m.example/d")
    monkeypatch.setenv("OVPN_LAB_SECURITY_MIRROR", "http://m.example/s")
    assert aptsources.find_mirrors("bookworm", tmp_path) == aptsources.Mirrors(
        "http://m.example/d", "http://m.example/s"
    )


def test_another_release_comes_from_the_hosts_mirrors(tmp_path, monkeypatch):
    """A Debian 12 host serves Debian 13 images and chroots from the same mirrors."""
    monkeypatch.delenv("OVPN_LAB_MIRROR", raising=False)
    monkeypatch.delenv("OVPN_LAB_SECURITY_MIRROR", raising=False)
    m = aptsources.find_mirrors("trixie", _apt(tmp_path, "debian.sources", DEB822))
    assert m.main == "http://mirror.example/debian"
    assert m.security == "http://mirror.example/debian-security"
