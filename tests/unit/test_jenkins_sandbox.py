"""The Jenkins library runs as a folder library too, where script-security's sandbox applies.

In the sandbox a constructor may be called only if script-security's generic whitelist lists it
(jenkinsci/script-security-plugin, src/main/resources/.../whitelists/generic-whitelist), or if the
class is the library's own. `new LinkedHashMap(Map)`, `new TreeSet(Collection)` and anything of
`JsonSlurperClassic` are not listed: each would stop a folder library with "Scripts not permitted
to use new java.util.LinkedHashMap java.util.Map" until an administrator approves it.
"""

from __future__ import annotations

import re
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "jenkins-shared-library"

# (class, number of arguments) the library uses, each checked against the generic whitelist
# ("new groovy.json.JsonSlurper" is listed with no arguments)
WHITELISTED = {("groovy.json.JsonSlurper", 0)}

_NEW = re.compile(r"\bnew\s+([A-Za-z_][\w.]*)\s*(?:<[^>]*>)?\s*([(\[])")


def _sources() -> list[Path]:
    return sorted([*(LIBRARY / "src").rglob("*.groovy"), *(LIBRARY / "vars").glob("*.groovy")])


def _own_classes() -> set[str]:
    own = set()
    for path in (LIBRARY / "src").rglob("*.groovy"):
        package = re.search(r"^package\s+([\w.]+)", path.read_text(encoding="utf-8"), re.M)
        own.add(f"{package.group(1)}.{path.stem}" if package else path.stem)
        own.add(path.stem)
    return own


def _arity(text: str, start: int) -> int:
    """Arguments of the call whose '(' is at text[start] (top-level commas; 0 for '()')."""
    depth, count, seen = 0, 0, False
    for ch in text[start:]:
        if ch in "([{":
            depth += 1
            if depth == 1:
                continue
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return count + 1 if seen else 0
        if depth == 1 and ch == ",":
            count += 1
        elif depth >= 1 and not ch.isspace():
            seen = True
    raise AssertionError("unbalanced call")


def constructor_calls() -> list[tuple[str, str, int]]:
    calls = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        code = re.sub(r"//[^\n]*|/\*.*?\*/", lambda m: " " * len(m.group(0)), text, flags=re.S)
        for m in _NEW.finditer(code):
            if m.group(2) == "[":
                continue  # an array: not a constructor call
            line = code.count("\n", 0, m.start()) + 1
            calls.append((f"{path.relative_to(LIBRARY)}:{line}", m.group(1), _arity(code, m.end(2) - 1)))
    return calls


def test_the_scan_finds_constructors_and_their_arity() -> None:
    code = "def a = new LinkedHashMap(options)\ndef b = new TreeSet<String>(x.keySet())\nnew Foo(a, [b, c])\nnew X()"
    found = [(m.group(1), _arity(code, m.end(2) - 1)) for m in _NEW.finditer(code)]
    assert found == [("LinkedHashMap", 1), ("TreeSet", 1), ("Foo", 2), ("X", 0)]


def test_every_constructor_is_the_librarys_own_or_on_the_generic_whitelist() -> None:
    own = _own_classes()
    calls = constructor_calls()
    assert any(cls == "org.deployforge.jenkins.DeployForge" for _, cls, _ in calls)  # the scan sees vars/
    refused = [
        f"{where}: new {cls} ({n} args)" for where, cls, n in calls if cls not in own and (cls, n) not in WHITELISTED
    ]
    assert refused == [], "needs script approval in a folder library:\n" + "\n".join(refused)


def test_no_class_outside_the_whitelist_is_named() -> None:
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        assert "JsonSlurperClassic" not in text, f"{path.name}: JsonSlurperClassic needs script approval"
