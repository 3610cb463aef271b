#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Generate the uapi header and the netlink policy tables of ovpn-shortcut.

The generic netlink family is described once, in ovpn-shortcut.yaml (a
genetlink-legacy style spec like the kernel's Documentation/netlink/specs).
This script renders:

  include/uapi/linux/ovpn_shortcut.h   enums and constants for userspace
  netlink-gen.h / netlink-gen.c        nla_policy tables for the module

Usage:
  tools/uapi_from_spec.py            write the files
  tools/uapi_from_spec.py --check    exit 1 if a committed file differs
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "ovpn-shortcut.yaml"
UAPI = ROOT / "include" / "uapi" / "linux" / "ovpn_shortcut.h"
GEN_H = ROOT / "netlink-gen.h"
GEN_C = ROOT / "netlink-gen.c"

FAMILY_PREFIX = "ovpn-sc-"
SCALARS = {"u8": "NLA_U8", "u16": "NLA_U16", "u32": "NLA_U32", "u64": "NLA_U64"}
BE_SCALARS = {"u16": "NLA_BE16", "u32": "NLA_BE32"}


def c_upper(name: str) -> str:
    """'ovpn-sc-new-peer' -> 'OVPN_SC_NEW_PEER'."""
    return name.upper().replace("-", "_")


def c_lower(name: str) -> str:
    return name.lower().replace("-", "_")


class Spec:
    """The parts of the YAML spec this generator understands."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.name: str = raw["name"]
        self.version: int = int(raw.get("version", 1))
        self.consts: dict[str, Any] = {}
        self.enums: list[dict[str, Any]] = []
        for d in raw.get("definitions", []):
            if d["type"] == "const":
                self.consts[d["name"]] = d["value"]
            elif d["type"] == "enum":
                self.enums.append(d)
            else:
                raise ValueError(f"unsupported definition type {d['type']}")
        self.sets: dict[str, dict[str, Any]] = {
            s["name"]: s for s in raw["attribute-sets"]
        }
        self.ops: list[dict[str, Any]] = raw["operations"]["list"]
        self.ops_prefix: str = raw["operations"].get("name-prefix", FAMILY_PREFIX + "cmd-")
        self.mcgrps: list[dict[str, Any]] = raw.get("mcast-groups", {}).get("list", [])

    # --- naming -----------------------------------------------------------
    def const_name(self, name: str) -> str:
        return c_upper(FAMILY_PREFIX + name)

    def enum_prefix(self, enum: dict[str, Any]) -> str:
        return c_upper(enum.get("name-prefix", FAMILY_PREFIX + enum["name"] + "-"))

    def set_prefix(self, aset: dict[str, Any]) -> str:
        return c_upper(aset.get("name-prefix", FAMILY_PREFIX + aset["name"] + "-a-"))

    def set_attrs(self, aset: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
        """(C name, value, attribute) of every attribute, values resolved."""
        out = []
        nxt = 1
        prefix = self.set_prefix(aset)
        for attr in aset["attributes"]:
            val = int(attr.get("value", nxt))
            nxt = val + 1
            out.append((prefix + c_upper(attr["name"]), val, attr))
        return out

    def policy_name(self, set_name: str) -> str:
        return c_lower(FAMILY_PREFIX + set_name) + "_nl_policy"

    def max_name(self, aset: dict[str, Any]) -> str:
        return self.set_prefix(aset) + "MAX"

    def value_expr(self, value: Any) -> str:
        """A check value: a number or the name of a const definition."""
        if isinstance(value, str) and value in self.consts:
            return self.const_name(value)
        if isinstance(value, int) and value > 0xffff:
            return f"{value:#x}"
        return str(value)

    # --- which sets need a policy -------------------------------------------
    def request_sets(self) -> list[str]:
        roots: list[str] = []
        for op in self.ops:
            if "attribute-set" in op and ("do" in op or "dump" in op):
                if op["attribute-set"] not in roots:
                    roots.append(op["attribute-set"])
        seen: list[str] = []
        todo = list(roots)
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.append(name)
            for attr in self.sets[name]["attributes"]:
                if attr["type"] == "nest":
                    todo.append(attr["nested-attributes"])
        # emit nested sets before the sets that reference them
        return list(reversed(seen))


def render_doc(doc: str | None, indent: str = "") -> list[str]:
    if not doc:
        return []
    lines = [ln.rstrip() for ln in doc.strip().splitlines()]
    if len(lines) == 1:
        return [f"{indent}/* {lines[0]} */"]
    return [f"{indent}/*"] + [f"{indent} * {ln}".rstrip() for ln in lines] + [f"{indent} */"]


def gen_uapi(spec: Spec) -> str:
    guard = "_UAPI_LINUX_OVPN_SHORTCUT_H"
    out = [
        "/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */",
        "/* Do not edit directly, auto-generated from: */",
        "/*\tkernel_module/ovpn-shortcut.yaml */",
        "/* YNL-GEN uapi header */",
        "",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        f'#define {c_upper(spec.raw["c-family-name"])}\t"{spec.name}"',
        f'#define {c_upper(spec.raw["c-version-name"])}\t{spec.version}',
        "",
    ]
    for name, value in spec.consts.items():
        if isinstance(value, str):
            out.append(f'#define {spec.const_name(name)}\t"{value}"')
        elif isinstance(value, int) and value > 255:
            out.append(f"#define {spec.const_name(name)}\t{value:#x}")
        else:
            out.append(f"#define {spec.const_name(name)}\t{value}")
    out.append("")
    for enum in spec.enums:
        prefix = spec.enum_prefix(enum)
        out += render_doc(enum.get("doc"))
        out.append(f"enum {c_lower(FAMILY_PREFIX + enum['name'])} {{")
        for i, entry in enumerate(enum["entries"]):
            out.append(f"\t{prefix}{c_upper(entry)}" + (" = 0," if i == 0 else ","))
        if enum.get("render-max"):
            out.append("")
            out.append(f"\t__{prefix}MAX")
        out.append("};")
        if enum.get("render-max"):
            out.append(f"#define {prefix}MAX (__{prefix}MAX - 1)")
        out.append("")
    for aset in spec.sets.values():
        prefix = spec.set_prefix(aset)
        out += render_doc(aset.get("doc"))
        out.append(f"enum {c_lower(FAMILY_PREFIX + aset['name'])}_attrs {{")
        for cname, val, _attr in spec.set_attrs(aset):
            line = f"\t{cname} = {val},"
            out.append(line)
        out.append("")
        out.append(f"\t__{prefix}AFTER_LAST,")
        out.append(f"\t{prefix}MAX = __{prefix}AFTER_LAST - 1")
        out.append("};")
        out.append("")
    out.append(f"enum {c_lower(FAMILY_PREFIX)}cmds {{")
    nxt = 0
    for op in spec.ops:
        val = int(op.get("value", nxt))
        nxt = val + 1
        out.append(f"\t{c_upper(spec.ops_prefix + op['name'])} = {val},")
    out.append("")
    out.append(f"\t__{c_upper(spec.ops_prefix)}AFTER_LAST,")
    out.append(f"\t{c_upper(spec.ops_prefix)}MAX = __{c_upper(spec.ops_prefix)}AFTER_LAST - 1")
    out.append("};")
    out.append("")
    for grp in spec.mcgrps:
        macro = c_upper(FAMILY_PREFIX + "mcgrp-" + grp["name"])
        out.append(f'#define {macro}_NAME\t"{grp["name"]}"')
    out.append("")
    out.append(f"#endif /* {guard} */")
    return "\n".join(out) + "\n"


def policy_entry(spec: Spec, attr: dict[str, Any]) -> str | None:
    typ = attr["type"]
    checks = attr.get("checks", {})
    if typ == "unused":
        return None
    if typ == "flag":
        return "{ .type = NLA_FLAG, }"
    if typ == "nest":
        return f"NLA_POLICY_NESTED({spec.policy_name(attr['nested-attributes'])})"
    if typ in SCALARS:
        nla = SCALARS[typ]
        if attr.get("byte-order") == "big-endian":
            nla = BE_SCALARS[typ]
        if "min" in checks and "max" in checks:
            return (f"NLA_POLICY_RANGE({nla}, {spec.value_expr(checks['min'])}, "
                    f"{spec.value_expr(checks['max'])})")
        if "max" in checks:
            return f"NLA_POLICY_MAX({nla}, {spec.value_expr(checks['max'])})"
        if "min" in checks:
            return f"NLA_POLICY_MIN({nla}, {spec.value_expr(checks['min'])})"
        return f"{{ .type = {nla}, }}"
    if typ == "binary":
        if "exact-len" in checks:
            return f"NLA_POLICY_EXACT_LEN({spec.value_expr(checks['exact-len'])})"
        if "min-len" in checks and "max-len" in checks:
            return (f"NLA_POLICY_RANGE(NLA_BINARY, {spec.value_expr(checks['min-len'])}, "
                    f"{spec.value_expr(checks['max-len'])})")
        if "max-len" in checks:
            return f"{{ .type = NLA_BINARY, .len = {spec.value_expr(checks['max-len'])}, }}"
        if "min-len" in checks:
            return f"NLA_POLICY_MIN_LEN({spec.value_expr(checks['min-len'])})"
        return "{ .type = NLA_BINARY, }"
    raise ValueError(f"unsupported attribute type {typ}")


HEADER_C = [
    "// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)",
    "/* Do not edit directly, auto-generated from: */",
    "/*\tkernel_module/ovpn-shortcut.yaml */",
    "/* YNL-GEN kernel source */",
    "",
]


def gen_c(spec: Spec) -> str:
    out = list(HEADER_C)
    out += [
        "#include <net/netlink.h>",
        "#include <net/genetlink.h>",
        "",
        '#include "netlink-gen.h"',
        "",
        "#include <uapi/linux/ovpn_shortcut.h>",
        "",
    ]
    for name in spec.request_sets():
        aset = spec.sets[name]
        out.append(f"const struct nla_policy {spec.policy_name(name)}"
                   f"[{spec.max_name(aset)} + 1] = {{")
        for cname, _val, attr in spec.set_attrs(aset):
            entry = policy_entry(spec, attr)
            if entry is not None:
                out.append(f"\t[{cname}] = {entry},")
        out.append("};")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def gen_h(spec: Spec) -> str:
    guard = "_OVPN_SC_NETLINK_GEN_H"
    out = [
        "/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */",
        "/* Do not edit directly, auto-generated from: */",
        "/*\tkernel_module/ovpn-shortcut.yaml */",
        "/* YNL-GEN kernel header */",
        "",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <net/netlink.h>",
        "#include <net/genetlink.h>",
        "",
        "#include <uapi/linux/ovpn_shortcut.h>",
        "",
    ]
    for name in spec.request_sets():
        aset = spec.sets[name]
        out.append(f"extern const struct nla_policy {spec.policy_name(name)}"
                   f"[{spec.max_name(aset)} + 1];")
    out += ["", f"#endif /* {guard} */"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 when a generated file is out of date")
    parser.add_argument("--spec", type=Path, default=SPEC)
    args = parser.parse_args(argv)

    with args.spec.open(encoding="utf-8") as f:
        spec = Spec(yaml.safe_load(f))

    outputs = {UAPI: gen_uapi(spec), GEN_H: gen_h(spec), GEN_C: gen_c(spec)}
    stale = 0
    for path, text in outputs.items():
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == text:
            continue
        if args.check:
            stale += 1
            rel = path.relative_to(ROOT)
            sys.stdout.writelines(difflib.unified_diff(
                current.splitlines(keepends=True), text.splitlines(keepends=True),
                f"a/{rel}", f"b/{rel} (from spec)"))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"{stale} generated file(s) out of date: run tools/uapi_from_spec.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
