# SPDX-License-Identifier: GPL-2.0-only
"""Prometheus text exposition of the kernel's devices and peers.

For node_exporter's textfile collector (`ovpn-shortcut metrics --output
DIR/ovpn_shortcut.prom`, written atomically) or any scraper that reads the
format. Peers are joined to OpenVPN's client names through its status files
(status-version 2: CLIENT_LIST rows carry the common name and the peer-id).
No key material exists in what the kernel reports; none is printed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

PREFIX = "ovpn_shortcut"
COUNTERS = {  # Counters field -> (metric, help)
    "vpn_rx_bytes": ("vpn_rx_bytes_total", "Inner bytes received from the peer (decrypted)"),
    "vpn_tx_bytes": ("vpn_tx_bytes_total", "Inner bytes sent to the peer (before encryption)"),
    "vpn_rx_packets": ("vpn_rx_packets_total", "Inner packets received from the peer"),
    "vpn_tx_packets": ("vpn_tx_packets_total", "Inner packets sent to the peer"),
    "link_rx_bytes": ("link_rx_bytes_total", "OpenVPN data packet bytes received (authentic)"),
    "link_tx_bytes": ("link_tx_bytes_total", "OpenVPN data packet bytes sent"),
    "link_rx_packets": ("link_rx_packets_total", "OpenVPN data packets received (authentic)"),
    "link_tx_packets": ("link_tx_packets_total", "OpenVPN data packets sent"),
}


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, object]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class _Out:
    """Samples grouped by metric, each with one HELP and TYPE line."""

    def __init__(self) -> None:
        self.metrics: dict[str, tuple[str, str, list[str]]] = {}

    def add(self, name: str, kind: str, help_text: str, labels: Mapping[str, object],
            value: float) -> None:
        full = f"{PREFIX}_{name}"
        entry = self.metrics.setdefault(full, (kind, help_text, []))
        entry[2].append(f"{full}{_labels(labels)} {value!r}")

    def text(self) -> str:
        lines = []
        for name, (kind, help_text, samples) in self.metrics.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]
        return "\n".join(lines) + "\n"


def parse_status(text: str) -> dict[int, str]:
    """peer-id -> common name from an OpenVPN status file (status-version 2 or 3)."""
    out: dict[int, str] = {}
    header: list[str] | None = None
    for line in text.splitlines():
        sep = "\t" if "\t" in line else ","
        cols = line.split(sep)
        if cols[:2] == ["HEADER", "CLIENT_LIST"]:
            header = cols[2:]
        elif cols[0] == "CLIENT_LIST" and header and "Peer ID" in header:
            row = dict(zip(header, cols[1:], strict=False))
            if row.get("Peer ID", "").isdigit():
                out[int(row["Peer ID"])] = row.get("Common Name", "")
    return out


def names_from_status_files(paths: Iterable[str]) -> dict[int, str]:
    """Every status file's peer-id -> common name (unreadable files are skipped:
    a server that is down has no clients)."""
    names: dict[int, str] = {}
    for p in paths:
        try:
            names.update(parse_status(Path(p).read_text()))
        except OSError:
            continue
    return names


def render(devices: list[dict[str, Any]], names: Mapping[tuple[str, int], str],
           now: float) -> str:
    """`devices`: [{"device": Device, "peers": [Peer]}] as `ovpn-shortcut show` has
    them; `names`: (device name, peer-id) -> OpenVPN common name."""
    out = _Out()
    out.add("scrape_timestamp_seconds", "gauge", "When these figures were read", {}, now)
    for entry in devices:
        dev, peers = entry["device"], entry["peers"]
        dname = dev.ifname or str(dev.ifindex)
        mode = dev.mode.name.lower() if dev.mode is not None else "unknown"
        out.add("device_info", "gauge", "An ovpn-shortcut device (value 1)",
                {"device": dname, "mode": mode, "listen_port": dev.listen_port}, 1)
        out.add("device_peers", "gauge", "Peers of the device", {"device": dname},
                len(peers))
        for f in fields(dev.drops):
            out.add("device_drops_total", "counter",
                    "Packets the device dropped, by reason (all peers and none)",
                    {"device": dname, "reason": f.name.replace("_", "-")},
                    getattr(dev.drops, f.name))
        out.add("device_userspace_packets_total", "counter",
                "Packets handed to OpenVPN (control channel, unknown senders)",
                {"device": dname}, dev.userspace_packets)
        out.add("device_keepalive_rx_total", "counter", "Keepalive pings received",
                {"device": dname}, dev.keepalive_rx)
        out.add("device_keepalive_tx_total", "counter", "Keepalive pings sent",
                {"device": dname}, dev.keepalive_tx)
        out.add("device_mss_clamp", "gauge", "TCP MSS clamp of SYNs (IPv6: value - 20), 0 = off",
                {"device": dname}, dev.mss_clamp)
        for direction, value in (("tx", dev.mss_clamped_tx), ("rx", dev.mss_clamped_rx)):
            out.add("device_mss_clamped_total", "counter",
                    "TCP SYNs whose MSS the device lowered (tx: entering, rx: decrypted)",
                    {"device": dname, "direction": direction}, value)
        for direction, value in (("tx", dev.crypto_parallel_tx),
                                 ("rx", dev.crypto_parallel_rx)):
            out.add("device_crypto_parallel_total", "counter",
                    "Packets whose AEAD ran on a crypto worker (parallel crypto), in order",
                    {"device": dname, "direction": direction}, value)
        for peer in peers:
            labels = {"device": dname, "peer_id": peer.peer_id,
                      "common_name": names.get((dname, peer.peer_id), ""),
                      "vpn_ipv4": peer.vpn_ipv4 or "", "vpn_ipv6": peer.vpn_ipv6 or ""}
            out.add("peer_info", "gauge",
                    "A peer (value 1): OpenVPN's common name, VPN addresses, remote",
                    {**labels, "remote": str(peer.remote) if peer.remote else ""}, 1)
            for field_name, (metric, help_text) in COUNTERS.items():
                out.add(f"peer_{metric}", "counter", help_text, labels,
                        getattr(peer.counters, field_name))
            for f in fields(peer.drops):
                value = getattr(peer.drops, f.name)
                if value:
                    out.add("peer_drops_total", "counter",
                            "Packets of the peer dropped, by reason (reasons seen only)",
                            {**labels, "reason": f.name.replace("_", "-")}, value)
            out.add("peer_tx_packet_id", "gauge",
                    "Last packet-id sent under the primary key (renegotiation at 0xff000000)",
                    labels, peer.tx_pktid or 0)
    return out.text()


def write_atomically(path: str, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder, so that a
    scraper never reads half a file (node_exporter's textfile collector rule)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".ovpn_shortcut.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
