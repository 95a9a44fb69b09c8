"""The one error a command raises for something the user can fix."""


class CommandError(Exception):
    """A command cannot go on; the message is shown to the user."""
