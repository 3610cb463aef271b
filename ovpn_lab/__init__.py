"""ovpn-lab: Debian 12 guests under QEMU TCG for testing ovpn-shortcut."""

__version__ = "0.1.0"
