# SPDX-License-Identifier: GPL-2.0-only
"""`python3 -m ovpn_shortcut_cli` and `python3 path/to/ovpn_shortcut_cli`."""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a directory: python3 DIR/ovpn_shortcut_cli
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from ovpn_shortcut_cli.cli import main
else:
    from .cli import main

sys.exit(main())
