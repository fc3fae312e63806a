"""The one error root of spotsched.

Every exception the package raises on purpose derives from `SpotschedError`, and each has a
docstring that is its default message (procrastinate's convention), so callers can catch one
class and users read a sentence, not a class name.
"""

from __future__ import annotations


class SpotschedError(Exception):
    """spotsched failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or type(self).__name__).strip())

    @property
    def message(self) -> str:
        return str(self.args[0])
