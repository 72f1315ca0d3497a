"""User-facing errors: the CLI prints their message on one line and exits non-zero."""


class GankitError(Exception):
    """A problem with the user's input (a name, a path, a flag) that names the problem and the fix."""
