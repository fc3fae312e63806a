"""The RunPod API key, held so that it cannot leak by accident.

`repr`, `str` and formatting show a mask; only `reveal()` (used to build the Authorization
header) gives the key back, and `redact()` scrubs it from any text before that text reaches an
exception message or a log.

A key is checked when it is made (`problem_with_key`): it travels in an HTTP header, so a
control character (a newline pasted with it), a non-ASCII character or inner whitespace can only
be a mistake, and an HTTP library that refuses such a header quotes it, escaped, in its error.
The check's message never contains the key or any part of it.
"""

from __future__ import annotations

import unicodedata
from typing import Final

MASK: Final = "***"
MAX_KEY_LENGTH: Final = 4096


def problem_with_key(value: str) -> str | None:
    """Why `value` (already stripped of surrounding whitespace) cannot be an API key, or None.

    The answer names the kind of character (and its code point, which is not secret), never the
    key or its position in it."""
    if not value:
        return "is empty"
    if len(value) > MAX_KEY_LENGTH:
        return f"is longer than {MAX_KEY_LENGTH} characters"
    for ch in value:
        code = f"U+{ord(ch):04X}"
        if unicodedata.category(ch) == "Cc":
            what = "a line break" if ch in "\r\n" else "a control character"
            return f"contains {what} ({code}); keys are one line of printable ASCII"
        if not ch.isascii():
            return f"contains a non-ASCII character ({code}); keys are printable ASCII"
        if ch.isspace():
            return "contains whitespace inside it; keys are one word of printable ASCII"
    return None


class ApiKey:
    """A RunPod API key whose repr is masked."""

    __slots__ = ("_forms", "_value")

    def __init__(self, value: str) -> None:
        stripped = value.strip() if isinstance(value, str) else ""
        problem = problem_with_key(stripped)
        if problem is not None:
            raise ValueError(f"the API key {problem}")
        self._value = stripped
        # The forms in which a library may quote the key: as is, and escaped in a repr.
        self._forms = tuple(
            dict.fromkeys((stripped, repr(stripped)[1:-1], repr(stripped.encode())[2:-1]))
        )

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, MASK)
        return text

    def __repr__(self) -> str:
        return f"ApiKey({MASK!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an ApiKey is not picklable")
