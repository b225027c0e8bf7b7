"""The ground floor: what every other room uses and that knows nothing of the paper.

Files written atomically and read with checks (`files`), the errors a user sees as one line
(`errors`), strict typing of JSON-shaped values (`strict`), the Markdown blocks that code writes
into the README and the data sheet (`readme_blocks`), and the project root that default paths are
relative to (`paths`). It imports nothing of paperlib.
"""
