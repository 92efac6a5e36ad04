"""Whether this machine's Node can run a JavaScript client of `make compat`, from what the
packages in compat/js/package-lock.json declare (their `engines.node`).

mk/compat.mk falls back to Debian's nodejs when npm is missing, and Debian 12's is Node 18,
while the pinned @aws-sdk v3 packages declare `node >= 20`. npm installs them anyway (it only
warns about engines), and they then fail in ways that say nothing about the version. So before
a JS cell runs, the runner checks the Node it was given against every package the client
loads (the client's package and all it depends on, as the lockfile resolves them) and, when
one is not satisfied, reports the client's cells as not run, saying which package asked for
what, e.g. "Node 18.19.0 < 20.0.0 required by @aws-sdk/client-s3 3.1169.0".

Only what `engines` fields use is understood: `||` alternatives of space-separated
comparators (`>=`, `>`, `<=`, `<`, `=`, `^`, `~`, bare versions, `x`/`*` wildcards, hyphen
ranges). Anything else counts as satisfied (npm does not enforce engines either), so an odd
range never keeps a client from running.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Optional

Version = tuple[int, int, int]
_PART = r"(?:\d+|[xX*])"
_VERSION = re.compile(rf"^v?({_PART})(?:\.({_PART}))?(?:\.({_PART}))?(?:[-+].*)?$")


def parse_version(text: str) -> Optional[Version]:
    """`v20.20.2` -> (20, 20, 2); None when it is no version."""
    m = _VERSION.match(text.strip())
    if not m:
        return None
    return tuple(0 if p is None or p in "xX*" else int(p) for p in m.groups())  # type: ignore[return-value]


def _parts(text: str) -> tuple[Optional[Version], int]:
    """A partial version and how many of its parts were given (wildcards end it)."""
    m = _VERSION.match(text)
    if not m:
        return None, 0
    given = 0
    for p in m.groups():
        if p is None or p in "xX*":
            break
        given += 1
    return parse_version(text), given


def _upper(v: Version, given: int) -> Version:
    """The first version past a partial one: 1.2 -> 1.3.0, 1 -> 2.0.0."""
    if given <= 1:
        return (v[0] + 1, 0, 0)
    if given == 2:
        return (v[0], v[1] + 1, 0)
    return (v[0], v[1], v[2] + 1)


def _comparator(text: str) -> Optional[list[tuple[str, Version]]]:
    """One comparator as (op, version) pairs that must all hold; None when not understood."""
    m = re.match(r"^(>=|<=|>|<|=|\^|~)?\s*(.*)$", text)
    op, rest = m.group(1) or "", m.group(2)
    if rest in ("", "*", "x", "X"):
        return []
    v, given = _parts(rest)
    if v is None:
        return None
    if op in (">=", "<", ">", "<="):
        if given < 3 and op in (">", "<="):
            return [(">=" if op == ">" else "<", _upper(v, given))]
        return [(op, v)]
    if op == "^":
        if v[0] > 0 or given == 1:
            hi = (v[0] + 1, 0, 0)
        elif v[1] > 0 or given == 2:
            hi = (0, v[1] + 1, 0)
        else:
            hi = (0, 0, v[2] + 1)
        return [(">=", v), ("<", hi)]
    if op == "~":
        return [(">=", v), ("<", _upper(v, min(given, 2)))]
    # = or a bare version: exact when whole, a range when partial.
    return [("=", v)] if given == 3 else [(">=", v), ("<", _upper(v, given))]


def _holds(version: Version, op: str, v: Version) -> bool:
    return {">=": version >= v, ">": version > v, "<=": version <= v, "<": version < v, "=": version == v}[op]


def _alternatives(range_text: str) -> Optional[list[list[tuple[str, Version]]]]:
    alts = []
    for alt in range_text.split("||"):
        alt = re.sub(r"(>=|<=|>|<|=|\^|~)\s+", r"\1", alt.strip())
        hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", alt)
        if hyphen:
            lo, (hi, given) = parse_version(hyphen.group(1)), _parts(hyphen.group(2))
            if lo is None or hi is None:
                return None
            alts.append([(">=", lo), ("<=", hi) if given == 3 else ("<", _upper(hi, given))])
            continue
        pairs: list[tuple[str, Version]] = []
        for comp in alt.split():
            c = _comparator(comp)
            if c is None:
                return None
            pairs += c
        alts.append(pairs)
    return alts


def satisfies(version: Version, range_text: str) -> bool:
    """Whether a Node version is within an `engines.node` range (unknown syntax: yes)."""
    alts = _alternatives(range_text)
    if alts is None:
        return True
    return any(all(_holds(version, op, v) for op, v in alt) for alt in alts)


def minimum(range_text: str) -> Optional[str]:
    """The least version a simple `>=X` range allows, as written out (for messages)."""
    alts = _alternatives(range_text)
    if not alts or len(alts) != 1 or [op for op, _ in alts[0]] != [">="]:
        return None
    return ".".join(map(str, alts[0][0][1]))


def _closure(packages: dict, root: str) -> list[str]:
    """The lockfile paths of `root` and of everything it loads, resolved as Node does: a
    dependency of node_modules/a is node_modules/a/node_modules/x if there, else up the tree."""
    seen: list[str] = []
    todo = [root]
    while todo:
        path = todo.pop()
        if path in seen or path not in packages:
            continue
        seen.append(path)
        entry = packages[path]
        deps = {**entry.get("dependencies", {}), **entry.get("optionalDependencies", {}),
                **entry.get("peerDependencies", {})}
        for name in deps:
            base = path
            while True:
                candidate = f"{base}/node_modules/{name}" if base else f"node_modules/{name}"
                if candidate in packages:
                    todo.append(candidate)
                    break
                if not base:
                    break
                cut = base.rfind("/node_modules/")
                base = base[:cut] if cut >= 0 else ""
    return seen


def unmet(lockfile: Path, package: str, node: Version) -> list[tuple[str, str, str]]:
    """(name, version, engines.node) of every package `package` loads that the Node version
    does not satisfy, the package itself first."""
    packages = json.loads(lockfile.read_text())["packages"]
    found = []
    for path in _closure(packages, f"node_modules/{package}"):
        entry = packages[path]
        wanted = entry.get("engines", {}).get("node") if isinstance(entry.get("engines"), dict) else None
        if wanted and not satisfies(node, wanted):
            name = path.rsplit("node_modules/", 1)[-1]
            found.append((name, entry.get("version", "?"), wanted))
    return found


def node_version(node: str) -> tuple[Optional[str], Optional[str]]:
    """(`node --version` without its v, None) or (None, why it could not be asked)."""
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"{node} cannot be run ({e.__class__.__name__}: {e})"
    text = out.stdout.strip()
    if out.returncode != 0 or parse_version(text) is None:
        return None, f"`{node} --version` said {text or out.stderr.strip()[:80]!r} (status {out.returncode})"
    return text.lstrip("v"), None


def too_old(node: str, lockfile: Path, package: str) -> Optional[str]:
    """Why the client whose package is `package` cannot run on this Node, or None."""
    version, why = node_version(node)
    if version is None:
        return why
    bad = unmet(lockfile, package, parse_version(version))  # type: ignore[arg-type]
    if not bad:
        return None
    name, pkg_version, wanted = bad[0]
    least = minimum(wanted)
    said = f"Node {version} < {least}" if least else f"Node {version} outside `{wanted}`"
    more = f" (and {len(bad) - 1} more of the packages it loads)" if len(bad) > 1 else ""
    return f"{said} required by {name} {pkg_version}{more}, per its `engines` in {lockfile.name}"
