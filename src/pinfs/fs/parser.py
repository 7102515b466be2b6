"""How mount options turn into numbers (lib/parser.c, lib/kstrtox.c, fs/fs_parser.c).

Three generations of parsers read ``mode=``/``uid=`` values, each with its own idea of
a bad value; none of them is Python's ``int()`` (no ``0o``, no ``_``, no spaces, and
no limit on the number of digits before the value is found to be too big):

* ``match_token`` + ``match_octal`` (ramfs at the seed, bpffs v4.10): the value must
  be octal digits to its end, or the option matches no token and is ignored.
* ``simple_strtoul`` (tmpfs until v5.4): the digits it can read, then ``*rest`` must
  be the end of the value; overflow wraps silently.
* ``fs_parse`` with ``fsparam_u32``/``fsparam_u32oct`` (v5.4 on): ``kstrtouint``.
"""

from __future__ import annotations

import errno

from pinfs.base.errors import kernel_error

_DIGITS = "0123456789abcdef"
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1


def _digit_count(text: str, base: int) -> int:
    """How many leading characters of ``text`` are digits of ``base`` (``_parse_integer``)."""
    valid = _DIGITS[:base]
    count = 0
    while count < len(text) and text[count].lower() in valid:
        count += 1
    return count


def _value(digits: str, base: int, limit: int) -> int | None:
    """The value of ``digits``, or None once it exceeds ``limit`` (never more work than
    the digits themselves, however many there are)."""
    value = 0
    for char in digits:
        value = value * base + _DIGITS.index(char.lower())
        if value > limit:
            return None
    return value


def _wrapped(digits: str, base: int) -> int:
    """The value of ``digits`` modulo 2**64, as ``simple_strtoull`` accumulates it."""
    value = 0
    for char in digits:
        value = (value * base + _DIGITS.index(char.lower())) & U64_MAX
    return value


def fixup_radix(text: str, base: int) -> tuple[str, int]:
    """``_parse_integer_fixup_radix``: base 0 means 0x.. hex, 0.. octal, else decimal."""
    if base == 0:
        if text[:1] == "0":
            base = 16 if text[1:2].lower() == "x" and _digit_count(text[2:3], 16) else 8
        else:
            base = 10
    if base == 16 and text[:2].lower() == "0x":
        text = text[2:]
    return text, base


def simple_strtoul(text: str, base: int) -> tuple[int, str]:
    """``simple_strtoul``: the value of the leading digits (0 if none, wrapping on
    overflow) and the rest of the text."""
    text, base = fixup_radix(text, base)
    count = _digit_count(text, base)
    return _wrapped(text[:count], base), text[count:]


def kstrtouint(text: str, base: int) -> int:
    """``kstrtouint``: an optional ``+``, at least one digit, an optional newline and
    nothing else (EINVAL); more than 32 bits is ERANGE."""
    if text[:1] == "+":
        text = text[1:]
    text, base = fixup_radix(text, base)
    count = _digit_count(text, base)
    if count == 0:
        raise kernel_error(errno.EINVAL)
    value = _value(text[:count], base, U64_MAX)
    if value is None:
        raise kernel_error(errno.ERANGE)  # _kstrtoull: overflow comes first
    if text[count:] not in ("", "\n"):
        raise kernel_error(errno.EINVAL)
    if value > U32_MAX:
        raise kernel_error(errno.ERANGE)
    return value


def fs_param_is_u32(value: str | None, base: int) -> int:
    """``fs_parse`` of an ``fsparam_u32`` (base 0) or ``fsparam_u32oct`` (base 8):
    a flag without a value, an empty value or any ``kstrtouint`` failure is EINVAL
    ("Bad value")."""
    if not value:
        raise kernel_error(errno.EINVAL)
    try:
        return kstrtouint(value, base)
    except OSError:
        raise kernel_error(errno.EINVAL) from None


def match_octal(value: str | None) -> int | None:
    """``match_token`` against ``"mode=%o"``, then ``match_octal``: octal digits to
    the end of the value, as a C ``int``; None if the pattern does not match (the
    caller ignores the option, as ramfs and bpffs did)."""
    if not value:
        return None
    count = _digit_count(value, 8)
    if count != len(value):
        return None
    number = _wrapped(value, 8) & U32_MAX
    return number - (1 << 32) if number > (1 << 31) - 1 else number
