"""Asking the person at the terminal: the one place that reads an answer from them.

The lifecycle decides when to ask (release.lifecycle.confirm); this only shows and reads, on stderr,
so `--json` on stdout stays clean. Tests replace it through `Context.prompter`.
"""

from __future__ import annotations

from typing import Protocol

from rich.console import Console


class Prompter(Protocol):
    """Shows a text and reads a yes/no or a typed answer."""

    def show(self, text: str, style: str = "") -> None:
        """Print `text` (plain, or in a Rich style) before a question."""

    def confirm(self, question: str) -> bool:
        """A yes/no question, no by default."""

    def ask(self, question: str) -> str:
        """A question whose answer is typed."""


class TerminalPrompter:
    """Prompts on stderr through Typer (imported when a question is asked), which reads sys.stdin."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def show(self, text: str, style: str = "") -> None:
        """Print `text` literally (no markup from the text itself)."""
        self.console.print(text, style=style or None, soft_wrap=True, markup=False, highlight=False)

    def confirm(self, question: str) -> bool:
        """y/N on stderr."""
        import typer

        return bool(typer.confirm(question, default=False, err=True))

    def ask(self, question: str) -> str:
        """A typed line on stderr."""
        import typer

        return str(typer.prompt(question, err=True))
