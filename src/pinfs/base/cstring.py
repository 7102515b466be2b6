"""C strings from Python values: the one rule for every path and string argument.

A ``const char *`` carries bytes.  Python code may pass ``bytes`` (taken as they are)
or ``str``, which is encoded the way :func:`os.fsencode` does it on Linux: UTF-8 with
``surrogateescape``, so a name :func:`os.fsdecode` made from any byte string goes back
to the same bytes.  A lone surrogate that is not such an escaped byte (``"\\ud800"``)
has no bytes at all: it is refused with :class:`UnicodeEncodeError` (a
:class:`ValueError`), as ``os.mkdir("/tmp/\\ud800")`` refuses it, before any kernel
state is touched.  Inside pinfs a name is the ``os.fsdecode`` form of its bytes, so
two spellings of the same bytes are the same name.
"""

from __future__ import annotations

ENCODING = "utf-8"
ERRORS = "surrogateescape"


def c_string_bytes(value: object, what: str) -> bytes:
    """``value`` as the bytes of a C string (no NUL allowed inside)."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        # ASCII text is its own UTF-8: no error handler can be asked for
        data = value.encode("ascii") if value.isascii() else _encode(value, what)
    else:
        raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")
    if b"\0" in data:
        raise ValueError(f"embedded null byte in {what}")
    return data


def c_string(value: object, what: str) -> str:
    """``value`` as pinfs keeps a C string: the ``os.fsdecode`` form of its bytes."""
    if type(value) is str and value.isascii() and "\0" not in value:
        return value  # what encoding and decoding back would give, without them
    return c_string_bytes(value, what).decode(ENCODING, ERRORS)


def _encode(text: str, what: str) -> bytes:
    try:
        return text.encode(ENCODING, ERRORS)
    except UnicodeEncodeError as exc:
        # The same exception os.fsencode raises, with a reason that names the argument.
        raise UnicodeEncodeError(
            exc.encoding, exc.object, exc.start, exc.end, f"surrogates not allowed in {what}"
        ) from None
