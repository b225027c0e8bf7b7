"""The survivors of the last `mutmut run` (make mutation), each against docs/mutation.md: explained
there (an equivalent mutant, and why) or not. Writes mutants/survivors.md and exits 1 when a
survivor of the core is unexplained. Run from the repository root after `mutmut run`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXPLAINED = Path("docs/mutation.md")
REPORT = Path("mutants/survivors.md")
NOT_KILLED = ("survived", "no tests", "timeout", "suspicious", "segfault")


def results(mutmut: str) -> dict[str, str]:
    """mutant name -> status, for every mutant mutmut did not kill."""
    out = subprocess.run([mutmut, "results"], capture_output=True, text=True, check=True).stdout
    found = (re.match(r"\s*(paperlib\.\S+): (.+)$", line) for line in out.splitlines())
    return {m[1]: m[2].strip() for m in found if m and m[2].strip().startswith(NOT_KILLED)}


def explained() -> dict[str, str]:
    """The survivors docs/mutation.md explains: rows `| \\`name\\` | why |` of its tables, each
    reason prefixed with the title of the section its table is in (what kind of survivor it is)."""
    reasons, section = {}, ""
    for line in EXPLAINED.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif m := re.match(r"\|\s*`(paperlib\.[^`]+)`\s*\|\s*(.+?)\s*\|\s*$", line):
            reasons[m[1]] = f"{section}: {m[2]}" if section else m[2]
    return reasons


def main(mutmut: str = "mutmut") -> int:
    survivors, reasons = results(mutmut), explained()
    unexplained = sorted(n for n in survivors if n not in reasons)
    lines = ["# Survivors of the last mutation run", "",
             f"{len(survivors)} in the core, {len(unexplained)} of them unexplained.", ""]
    for title, names in (("Unexplained (kill them with a test, or explain them in docs/mutation.md)", unexplained),
                         ("Explained in docs/mutation.md", sorted(n for n in survivors if n in reasons))):
        lines += [f"## {title}", ""] + [f"- `{n}` ({survivors[n]}): {reasons.get(n, 'mutmut show ' + n)}"
                                         for n in names] + [""]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines))
    print(f"{REPORT}: {len(survivors)} survivors in the core, {len(unexplained)} unexplained")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
