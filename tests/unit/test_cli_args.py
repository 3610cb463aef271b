"""ovpn-shortcut's argument checks: the option is named, the kernel is not asked,
and no key material appears in a message."""

from __future__ import annotations

import io

import pytest

from ovpn_shortcut_cli import args as checks
from ovpn_shortcut_cli import cli

SECRET = "ab" * 31 + "zz"  # 64 characters, not hex at the end


def _fails(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(("argv", "words"), [
    (["dev", "set", "d", "--listen-port", "70000"], ["--listen-port", "70000", "0..65535"]),
    (["dev", "add", "d", "--listen-port", "x"], ["--listen-port", "not a number"]),
    (["dev", "set", "d", "--mss", "87"], ["--mss", "87", "0 (off)", "88..65535"]),
    (["dev", "set", "d", "--mss", "65536"], ["--mss", "65536", "0..65535"]),
    (["peer", "del", "d", "16777215"], ["peer_id", "16777215", "0..16777214"]),
    (["peer", "add", "d", "1", "--remote", "192.0.2.1:0"], ["--remote", "1..65535"]),
    (["peer", "add", "d", "1", "--remote", "host.example:1194"], ["--remote", "IP address"]),
    (["peer", "add", "d", "1", "--vpn-ipv4", "10.8.0.300"], ["--vpn-ipv4", "10.8.0.300"]),
    (["key", "add", "d", "1", "--key-id", "8"], ["--key-id", "0..7"]),
    (["iroute", "add", "d", "1", "10.9.0.1/24"], ["prefix", "host bits"]),
    (["iroute", "add", "d", "1", "10.9.0.0"], ["prefix", "no /LENGTH"]),
])
def test_bad_arguments_name_the_option(argv, words, capsys):
    err = _fails(argv, capsys)
    for w in words:
        assert w in err, err


def test_dev_set_mss_parses():
    a = cli.build_parser().parse_args(["dev", "set", "d", "--mss", "1208"])
    assert (a.mss, a.listen_port) == (1208, None)
    assert cli.build_parser().parse_args(["dev", "set", "d", "--mss", "0"]).mss == 0


def test_dev_set_needs_a_setting():
    a = cli.build_parser().parse_args(["dev", "set", "d"])
    with pytest.raises(SystemExit, match="--listen-port and/or --mss"):
        a.handler(a)


def test_format_device_shows_the_clamp():
    nl = cli.nl
    text = cli.format_device(nl.Device(ifindex=3, ifname="ovs0", mss_clamp=1208,
                                       mss_clamped_tx=2, mss_clamped_rx=1))
    assert "mss-clamp 1208 (IPv6 1188), clamped SYNs tx 2 rx 1" in text
    assert "mss-clamp off (IPv6 off)" in cli.format_device(nl.Device(ifindex=3))


def test_hex_error_names_the_option_not_the_key():
    with pytest.raises(ValueError) as exc:
        checks.key_material("chacha20-poly1305", {
            "encrypt-key": SECRET, "encrypt-nonce": "11" * 8,
            "decrypt-key": "22" * 32, "decrypt-nonce": "33" * 8}, "--")
    msg = str(exc.value)
    assert msg == "--encrypt-key: not hexadecimal (character 63 of 64)", msg
    assert "ab" * 4 not in msg


@pytest.mark.parametrize(("cipher", "field", "value", "words"), [
    ("aes-gcm", "decrypt-key", "22" * 20, "20 bytes, aes-gcm takes 16 or 24 or 32"),
    ("chacha20-poly1305", "encrypt-key", "22" * 16, "16 bytes, chacha20-poly1305 takes 32"),
    ("aes-gcm", "encrypt-nonce", "11" * 12, "12 bytes, a nonce tail has 8"),
])
def test_key_lengths(cipher, field, value, words):
    fields = {"encrypt-key": "00" * 32, "encrypt-nonce": "11" * 8,
              "decrypt-key": "22" * 32, "decrypt-nonce": "33" * 8, field: value}
    with pytest.raises(ValueError, match=words):
        checks.key_material(cipher, fields, "--")


def test_key_file_from_stdin_and_file(tmp_path):
    text = ("# a link's key\nencrypt-key " + "00" * 32 + "\nencrypt_nonce=" + "11" * 8
            + "\ndecrypt-key " + "22" * 32 + "\nDECRYPT-NONCE " + "33" * 8 + "\n")
    fields = checks.read_key_file("-", io.StringIO(text))
    assert fields["encrypt-nonce"] == "11" * 8 and fields["decrypt-nonce"] == "33" * 8
    f = tmp_path / "k"
    f.write_text(text)
    assert checks.read_key_file(str(f)) == fields
    m = checks.key_material("chacha20-poly1305", fields, f"--key-file {f}: ")
    assert m["decrypt-key"] == bytes([0x22]) * 32


@pytest.mark.parametrize(("text", "words"), [
    ("encrypt-key 00\n", "missing encrypt-nonce, decrypt-key, decrypt-nonce"),
    ("encrypt-key 00\nencrypt-key 00\n", "line 2: encrypt-key given twice"),
    ("cipher aes\n", "line 1: unknown field 'cipher'"),
])
def test_key_file_errors(text, words):
    with pytest.raises(ValueError, match=words):
        checks.read_key_file("-", io.StringIO(text))


def test_key_add_wants_one_source(tmp_path, capsys):
    p = cli.build_parser()
    a = p.parse_args(["key", "add", "d", "1", "--key-file", str(tmp_path / "k"),
                      "--encrypt-key", "00" * 32])
    with pytest.raises(ValueError, match="not both"):
        cli._key_fields(a)
    a = p.parse_args(["key", "add", "d", "1", "--encrypt-key", "00" * 32])
    with pytest.raises(ValueError, match="--encrypt-nonce, --decrypt-key, --decrypt-nonce"):
        cli._key_fields(a)
    a = p.parse_args(["key", "add", "d", "1", "--encrypt-key", "00" * 32, "--encrypt-nonce",
                      "11" * 8, "--decrypt-key", "22" * 32, "--decrypt-nonce", "33" * 8])
    cli._key_fields(a)
    assert "visible to every local user" in capsys.readouterr().err


def test_main_reports_a_bad_key_file_without_a_traceback(tmp_path, capsys):
    rc = cli.main(["key", "add", "d", "1", "--key-file", str(tmp_path / "missing")])
    assert rc == 2
    assert "--key-file" in capsys.readouterr().err
