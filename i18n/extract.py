"""A Babel extraction method that reads Python with `ast`: every `_("...")`, `N_("...")` and `ngettext("...", "...", n)`,
including those inside f-string expressions (`f"<h2>{escape(_('Totals'))}</h2>"`), which Babel's token-based
Python extractor does not see on Python < 3.12. Wired in i18n/babel.cfg; run by `pybabel extract` as usual.

It also collects the CLI's `--help` texts, which stay English in the code and are translated when the CLI runs
(i18n/cli_help.py): the `help="..."` / `short_help="..."` of typer's Option, Argument, Typer, command, callback and
add_typer, and the docstring of every function decorated with `@<app>.command` or `@<app>.callback` (typer's help
for a command without help=, cleaned as `inspect.getdoc` cleans it).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import IO, Any

# Calls whose help= / short_help= typer shows in --help.
HELP_CALLS = frozenset({"Option", "Argument", "Typer", "command", "callback", "add_typer"})
HELP_KEYWORDS = ("help", "short_help")
# An f-string help (help=f"Default: ${TOKEN_ENV}.") is a template: its id names each expression as a placeholder
# ("Default: ${TOKEN_ENV}."), under this message context; i18n/cli_help.py matches the rendered text against it.
HELP_TEMPLATE_CONTEXT = "cli-help-template"


def extract(fileobj: IO[bytes], keywords: dict[str, Any], comment_tags: list[str], options: dict[str, Any]) -> Iterator[tuple[int, str, Any, list[str]]]:
    source = fileobj.read().decode(options.get("encoding", "utf-8"))
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    found: list[tuple[int, str, Any]] = []
    for node in ast.walk(tree):
        found.extend(_help_texts(node))
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


def help_template(node: ast.JoinedStr) -> str:
    """f"Comma-separated purposes: {PURPOSE_CHOICES}." -> "Comma-separated purposes: {PURPOSE_CHOICES}." (each
    expression becomes a placeholder named after its source, conversions and format specs dropped)."""
    parts: list[str] = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
        elif isinstance(value, ast.FormattedValue):
            parts.append("{" + (re.sub(r"\W+", "_", ast.unparse(value.value)).strip("_") or "value") + "}")
    return "".join(parts)


def _called(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _help_texts(node: ast.AST) -> Iterator[tuple[int, str, Any]]:
    """A typer call's help= / short_help= literals; a typer command's docstring."""
    if isinstance(node, ast.Call) and _called(node.func) in HELP_CALLS:
        for keyword in node.keywords:
            if keyword.arg in HELP_KEYWORDS and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str) and keyword.value.value:
                yield keyword.value.lineno, "_", keyword.value.value
            elif keyword.arg in HELP_KEYWORDS and isinstance(keyword.value, ast.JoinedStr):
                yield keyword.value.lineno, "pgettext", (HELP_TEMPLATE_CONTEXT, help_template(keyword.value))
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for decorator in node.decorator_list:
            call = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(call, ast.Attribute) and call.attr in ("command", "callback"):
                docstring = ast.get_docstring(node, clean=True)
                if docstring:
                    yield node.lineno, "_", docstring
                break
