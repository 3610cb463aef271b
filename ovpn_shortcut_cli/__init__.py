# SPDX-License-Identifier: GPL-2.0-only
"""Command-line tool `ovpn-shortcut` for the ovpn-shortcut kernel module.

The netlink client lives in one file, module_utils/ovpn_shortcut.py (shared with
the Ansible modules).  `load_client()` finds it in any of these layouts:

- a checkout or editable install: <repo>/module_utils/ovpn_shortcut.py
- a copy: DIR/ovpn_shortcut_cli/ + DIR/module_utils/ovpn_shortcut.py
  (or DIR/ovpn_shortcut.py), run as `python3 -m ovpn_shortcut_cli` from DIR or
  `python3 DIR/ovpn_shortcut_cli`
- `ovpn_shortcut` importable from sys.path
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

MODULE_NAME = "ovpn_shortcut"


def _load_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[MODULE_NAME]
        raise
    return module


def load_client() -> ModuleType:
    """The module_utils/ovpn_shortcut.py client module (one instance per process)."""
    for name in ("module_utils.ovpn_shortcut", MODULE_NAME):
        if name in sys.modules:
            return sys.modules[name]
    root = Path(__file__).resolve().parent.parent
    if (root / "module_utils" / "ovpn_shortcut.py").is_file():
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        return importlib.import_module("module_utils.ovpn_shortcut")
    for path in (root / "ovpn_shortcut.py", Path(__file__).resolve().parent / "ovpn_shortcut.py"):
        if path.is_file():
            return _load_file(path)
    import ovpn_shortcut  # type: ignore[import-not-found]

    return ovpn_shortcut
