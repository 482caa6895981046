"""The one exception type for bad user input (CLI exit status 2)."""


class InputError(ValueError):
    """A bad value from the user: the message names the value and the accepted range."""
