"""`./dev bench`: ovpn-shortcut against its peers, same guest, same path, one run."""
