"""The RunPod API key, held so that it cannot leak by accident.

`repr`, `str` and formatting show a mask; only `reveal()` (used to build the Authorization
header) gives the key back, and `redact()` scrubs it from any text before that text reaches an
exception message or a log.
"""

from __future__ import annotations

from typing import Final

MASK: Final = "***"


class ApiKey:
    """A RunPod API key whose repr is masked."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value or not value.strip():
            raise ValueError("an API key cannot be empty")
        self._value = value.strip()

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        return text.replace(self._value, MASK)

    def __repr__(self) -> str:
        return f"ApiKey({MASK!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an ApiKey is not picklable")
