"""`python -m release`."""

from release.cli import entry

entry()
