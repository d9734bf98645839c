"""Write tests/MOVED.md: where each test of a baseline collection lives now.

Usage (from the repository root)::

    .venv/bin/python -m pytest -p no:cacheprovider --collect-only -q \\
        | grep '::' > /tmp/now.txt
    .venv/bin/python tests/make_moved_map.py BASELINE_IDS /tmp/now.txt > tests/MOVED.md

``BASELINE_IDS`` lists one pytest node id per line, as collected before the
tests were moved. An id still collected maps to itself. Any other id maps to
the one id collected now that has the same test name and parameters and that
no baseline id kept; a name that matches no such id, or more than one, is
listed under "checked by hand" with ``HAND`` below, and the run fails if one is
left without an answer.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

#: Old ids whose name and parameters match no single new id: decided by hand.
HAND: dict[str, str] = {}


def key(node_id: str) -> str:
    """The test's name and parameters, without its file."""
    return node_id.split("::", 1)[1]


def build(old_ids: list[str], new_ids: list[str]) -> tuple[dict[str, str], list[str]]:
    new_set = set(new_ids)
    kept = {i for i in old_ids if i in new_set}
    free = defaultdict(list)
    for i in new_ids:
        if i not in kept:
            free[key(i)].append(i)
    mapping = {i: i for i in kept}
    problems = []
    for i in old_ids:
        if i in mapping:
            continue
        if i in HAND:
            mapping[i] = HAND[i]
            continue
        candidates = free.get(key(i), [])
        if len(candidates) == 1:
            mapping[i] = candidates[0]
        else:
            problems.append(f"{i}: {len(candidates)} candidates {candidates}")
    return mapping, problems


def render(old_ids: list[str], mapping: dict[str, str], new_ids: list[str]) -> str:
    by_file: dict[str, list[str]] = defaultdict(list)
    for i in old_ids:
        by_file[i.split("::", 1)[0]].append(i)
    moved = sum(1 for i in old_ids if mapping[i] != i)
    added = sorted(set(new_ids) - set(mapping.values()))
    out = [
        "# Where the tests moved",
        "",
        "The unit tests now mirror the package (`tests/unit/transport/`, `wire/`, `http/`,",
        "`resources/`, `tokens/`, `auditing/`, `cli/`, and files for the client, policy,",
        "secrets, typing and layout in `tests/unit/`), in files named after behaviours.",
        "Helpers shared by one folder's tests live next to them (`httpkit.py`, `tokenkit.py`,",
        "`auditkit.py`, `clikit.py`, and `conftest.py` for fixtures); helpers shared by",
        "several folders live in `tests/` (`fakeclient.py`, `scripted.py`, `expandedkit.py`,",
        "`hostile.py`, and `payloads.py`). Test bodies did not change.",
        "",
        f"This maps each of the {len(old_ids)} test ids of the baseline collection (taken",
        "before the restructuring, when the stand-in's tests were still one",
        f"`tests/unit/test_standin.py`) to its id now: {moved} moved, "
        f"{len(old_ids) - moved} unchanged.",
        f"{len(added)} ids collected now are newer than the baseline (listed at the end).",
        "Made by `tests/make_moved_map.py` (its docstring says how), by test name and",
        "parameters.",
        "",
    ]
    for path in sorted(by_file):
        ids = by_file[path]
        if all(mapping[i] == i for i in ids):
            out += [f"## `{path}` ({len(ids)}): unchanged", ""]
            out += [f"- `{key(i)}`" for i in ids]
            out.append("")
            continue
        out += [f"## `{path}` ({len(ids)})", ""]
        for i in ids:
            out.append(f"- `{key(i)}` → `{mapping[i]}`")
        out.append("")
    out += [f"## Newer than the baseline ({len(added)})", ""]
    out += [f"- `{i}`" for i in added]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    old_ids = [line.strip() for line in Path(argv[1]).read_text().splitlines() if "::" in line]
    new_ids = [line.strip() for line in Path(argv[2]).read_text().splitlines() if "::" in line]
    mapping, problems = build(old_ids, new_ids)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    assert len(mapping) == len(old_ids)
    assert len(set(mapping.values())) == len(mapping), "two old ids map to one new id"
    sys.stdout.write(render(old_ids, mapping, new_ids))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
