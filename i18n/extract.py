"""A Babel extraction method that reads Python with `ast`: every `_("...")`, `N_("...")` and `ngettext("...", "...", n)`,
including those inside f-string expressions (`f"<h2>{escape(_('Totals'))}</h2>"`), which Babel's token-based
Python extractor does not see on Python < 3.12. Wired in i18n/babel.cfg; run by `pybabel extract` as usual.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import IO, Any


def extract(fileobj: IO[bytes], keywords: dict[str, Any], comment_tags: list[str], options: dict[str, Any]) -> Iterator[tuple[int, str, Any, list[str]]]:
    source = fileobj.read().decode(options.get("encoding", "utf-8"))
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    found: list[tuple[int, str, Any]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        name = node.func.id
        if name not in keywords and name not in ("_", "N_", "ngettext"):
            continue
        texts = [arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None for arg in node.args]
        if name == "ngettext":
            if len(texts) >= 2 and texts[0] is not None and texts[1] is not None:
                found.append((node.lineno, name, (texts[0], texts[1], None)))
        elif texts and texts[0] is not None:
            found.append((node.lineno, name, texts[0]))
    for lineno, name, messages in sorted(found, key=lambda item: item[0]):
        yield lineno, name, messages, []
