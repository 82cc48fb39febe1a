#!/usr/bin/env python3
"""Pin action.yml to a prebuilt image: `image: Dockerfile` -> `image: docker://REF@sha256:DIGEST`.

Run by .github/workflows/release.yml after it pushed the image, so `uses: deployforge/action@v3`
pulls the image the release built (seconds) instead of building the Dockerfile in every job
(minutes). main keeps `image: Dockerfile` for development.

    python3 scripts/pin_action_image.py ghcr.io/owner/action@sha256:<64 hex> [action.yml]

Only the `image:` line under `runs:` changes; every other byte of the file is kept.
Exit 2 on a reference that is not NAME@sha256:<64 hex> or an action.yml without that line.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_REF = re.compile(r"[a-z0-9][a-z0-9.-]*(?::[0-9]+)?(?:/[a-z0-9._-]+)+@sha256:[0-9a-f]{64}")
_IMAGE_LINE = re.compile(r"^(?P<indent>[ ]+)image:[ ]*(?P<value>\S.*?)[ ]*$", re.M)


def pin(text: str, ref: str) -> str:
    """The action.yml text with its runs.image set to docker://REF (pure)."""
    if not _REF.fullmatch(ref):
        raise ValueError(f"'{ref}' is not an image reference pinned by digest (NAME@sha256:<64 hex digits>)")
    runs = re.search(r"^runs:[ ]*$", text, re.M)
    if runs is None:
        raise ValueError("action.yml has no top-level 'runs:' block")
    found = _IMAGE_LINE.search(text, runs.end())
    if found is None or found.group("value").strip("'\"") != "Dockerfile":
        raise ValueError("action.yml's runs.image is not 'Dockerfile': is it pinned already?")
    return f"{text[: found.start('value')]}'docker://{ref}'{text[found.end('value') :]}"


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1] if len(argv) == 2 else "action.yml")
    try:
        path.write_text(pin(path.read_text(encoding="utf-8"), argv[0]), encoding="utf-8")
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: runs.image = docker://{argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
