"""Errors a user can fix. The CLI prints them as one line and exits non-zero, with no traceback."""


class UserError(Exception):
    """Bad input: the message names the bad value and, where there are few, the valid ones."""
