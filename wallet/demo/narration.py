"""How the demo talks: numbered chapters, checked claims, one failure type."""

from __future__ import annotations

from rich.console import Console


class DemoFailure(RuntimeError):
    """A step of the story did not behave."""


class Narrator:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._chapter = 0

    def chapter(self, title: str) -> None:
        """`title` arrives translated (callers pass `_("...")`); only the numbering is added here."""
        self._chapter += 1
        self.console.rule(f"[bold cyan]{self._chapter}. {title}")

    def say(self, text: str) -> None:
        self.console.print(f"  {text}")

    def check(self, condition: bool, failure: str) -> None:
        if not condition:
            raise DemoFailure(failure)
