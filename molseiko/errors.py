"""The one exception type for errors a user can cause and fix."""

from __future__ import annotations


class MolseikoError(Exception):
    """A user-facing error: the message says what went wrong and what to do.

    The CLI prints it on one line and exits non-zero; library callers catch it.
    """
