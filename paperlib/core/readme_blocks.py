"""Generated blocks in Markdown files: what stands between `<!-- begin:NAME -->` and
`<!-- end:NAME -->` is written by code (the README's results, times and benchmarks, the data
sheet's counts), never typed. One implementation, written atomically."""

from __future__ import annotations

import re
from pathlib import Path

from paperlib.core.files import write_bytes


def update_readme(readme: str | Path, marker: str, content: str) -> bool:
    """Replace what stands between `<!-- begin:MARKER -->` and `<!-- end:MARKER -->`; True if changed."""
    readme = Path(readme)
    text = readme.read_text()
    pattern = re.compile(rf"(<!-- begin:{re.escape(marker)} -->\n).*?(<!-- end:{re.escape(marker)} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no <!-- begin:{marker} --> ... <!-- end:{marker} --> block")
    new = pattern.sub(lambda m: m.group(1) + content.rstrip() + "\n" + m.group(2), text)
    if new != text:
        write_bytes(readme, new.encode())
    return new != text
