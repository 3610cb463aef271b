"""`ovpn-shortcut metrics`: Prometheus text of devices and peers, names from
OpenVPN's status file."""

from __future__ import annotations

import re

from ovpn_shortcut_cli import load_client, metrics

nl = load_client()

STATUS = """TITLE,OpenVPN 2.6.14 x86_64-pc-linux-gnu [SSL (OpenSSL)] [DCO]
TIME,2026-11-29 14:48:11,1795963691
HEADER,CLIENT_LIST,Common Name,Real Address,Virtual Address,Virtual IPv6 Address,\
Bytes Received,Bytes Sent,Connected Since,Connected Since (time_t),Username,Client ID,\
Peer ID,Data Channel Cipher
CLIENT_LIST,g2,198.18.0.2:46008,10.98.0.100,,8673,8402,2026-11-29 14:43:43,1795963423,\
UNDEF,1,1,AES-256-GCM
CLIENT_LIST,c1,198.18.0.21:36789,10.98.0.11,,3281,4039,2026-11-29 14:47:33,1795963653,\
UNDEF,5,0,AES-256-GCM
HEADER,ROUTING_TABLE,Virtual Address,Common Name,Real Address,Last Ref,Last Ref (time_t)
ROUTING_TABLE,10.98.0.11,c1,198.18.0.21:36789,2026-11-29 14:47:34,1795963654
END
"""
SAMPLE = re.compile(r'^[a-z_0-9]+(\{([a-z_0-9]+="(?:[^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$')


def _devices() -> list[dict]:
    dev = nl.Device(ifindex=5, mode=nl.Mode.MP, listen_port=1194, ifname="ovpnsc0",
                    drops=nl.Drops(auth=3, spoofed=2), userspace_packets=7,
                    mss_clamp=1208, mss_clamped_tx=4, mss_clamped_rx=3,
                    crypto_parallel_tx=70, crypto_parallel_rx=30)
    p0 = nl.Peer(peer_id=0, remote=nl.Endpoint("198.18.0.21", 36789), vpn_ipv4="10.98.0.11",
                 counters=nl.Counters(vpn_rx_bytes=1000, vpn_rx_packets=10),
                 drops=nl.Drops(spoofed=2), tx_pktid=42)
    p1 = nl.Peer(peer_id=1, vpn_ipv4="10.98.0.100")
    link = nl.Device(ifindex=6, mode=nl.Mode.P2P, ifname="ovsl-site")
    return [{"device": dev, "peers": [p0, p1]},
            {"device": link, "peers": [nl.Peer(peer_id=7)]}]


def test_status_file_names_peers():
    assert metrics.parse_status(STATUS) == {1: "g2", 0: "c1"}
    assert metrics.parse_status(STATUS.replace(",", "\t")) == {1: "g2", 0: "c1"}
    assert metrics.names_from_status_files(["/nonexistent/status.log"]) == {}


def test_render_is_prometheus_text_with_names_and_counters():
    names = {("ovpnsc0", p): cn for p, cn in metrics.parse_status(STATUS).items()}
    text = metrics.render(_devices(), names, 1795963700.5)
    helps = re.findall(r"^# HELP (\S+) ", text, re.M)
    types = re.findall(r"^# TYPE (\S+) (counter|gauge)$", text, re.M)
    assert len(helps) == len(set(helps)) == len(types)  # one HELP and TYPE per metric
    for line in text.splitlines():
        assert line.startswith("# ") or SAMPLE.match(line), line
    assert ('ovpn_shortcut_peer_vpn_rx_bytes_total{device="ovpnsc0",peer_id="0",'
            'common_name="c1",vpn_ipv4="10.98.0.11",vpn_ipv6=""} 1000') in text
    assert 'ovpn_shortcut_peer_info{device="ovpnsc0",peer_id="1",common_name="g2"' in text
    assert 'ovpn_shortcut_device_drops_total{device="ovpnsc0",reason="auth"} 3' in text
    assert 'reason="spoofed"} 2' in text
    assert 'ovpn_shortcut_device_peers{device="ovpn-site"}' not in text
    assert 'ovpn_shortcut_device_peers{device="ovsl-site"} 1' in text
    assert 'ovpn_shortcut_device_mss_clamp{device="ovpnsc0"} 1208' in text
    assert 'ovpn_shortcut_device_mss_clamped_total{device="ovpnsc0",direction="tx"} 4' in text
    assert 'ovpn_shortcut_device_mss_clamped_total{device="ovpnsc0",direction="rx"} 3' in text
    assert 'ovpn_shortcut_device_crypto_parallel_total{device="ovpnsc0",direction="tx"} 70' in text
    assert 'ovpn_shortcut_device_info{device="ovsl-site",mode="p2p",listen_port="0"} 1' in text
    assert "\novpn_shortcut_scrape_timestamp_seconds 1795963700.5\n" in text


def test_label_values_are_escaped():
    dev = nl.Device(ifindex=1, mode=nl.Mode.P2P, ifname="x")
    text = metrics.render([{"device": dev, "peers": [nl.Peer(peer_id=1)]}],
                          {("x", 1): 'a"b\\c\nd'}, 0)
    assert 'common_name="a\\"b\\\\c\\nd"' in text


def test_write_atomically(tmp_path):
    out = tmp_path / "ovpn_shortcut.prom"
    metrics.write_atomically(str(out), "a 1\n")
    metrics.write_atomically(str(out), "a 2\n")
    assert out.read_text() == "a 2\n" and oct(out.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["ovpn_shortcut.prom"]
