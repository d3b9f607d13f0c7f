"""Exceptions that mean "the user asked for something we cannot do".

The CLI turns a :class:`UserError` into a one-line message on stderr and a non-zero exit;
anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in the user's input (bad file, unknown name, invalid parameter)."""

    exit_code = 2


class UnavailableError(UserError):
    """A requested backend, dataset or resource is not available on this machine."""

    exit_code = 3
