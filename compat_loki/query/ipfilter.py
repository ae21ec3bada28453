"""LogQL's ``ip("…")`` filters: a single address, a CIDR range or ``first-last``. Pure.

``|= ip("10.0.0.0/8")`` keeps lines that contain an address in the range (candidates are
the IPv4/IPv6-looking words of the line); ``| addr = ip("…")`` tests a label's value.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable

from core.errors import QueryError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CANDIDATE = re.compile(r"[0-9A-Fa-f:.]{3,45}")


@functools.lru_cache(maxsize=256)
def compile_ip_pattern(pattern: str) -> Callable[[IpAddress], bool]:
    text = pattern.strip()
    try:
        if "-" in text:
            first, last = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
            if first.version != last.version or first > last:  # type: ignore[operator]
                raise ValueError(text)
            return lambda a: a.version == first.version and first <= a <= last  # type: ignore[operator]
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise QueryError(f"invalid ip pattern {pattern!r}") from None
    return lambda a: a.version == network.version and a in network


def _address(word: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(word.strip(".:"))
    except ValueError:
        return None


def ip_value_test(pattern: str) -> Callable[[str], bool]:
    within = compile_ip_pattern(pattern)

    def test(value: str) -> bool:
        address = _address(value.strip())
        return address is not None and within(address)

    return test


def ip_line_test(pattern: str) -> Callable[[str], bool]:
    within = compile_ip_pattern(pattern)

    def test(line: str) -> bool:
        for match in _CANDIDATE.finditer(line):
            word = match.group()
            if "." not in word and word.count(":") < 2:
                continue
            address = _address(word)
            if address is not None and within(address):
                return True
        return False

    return test
