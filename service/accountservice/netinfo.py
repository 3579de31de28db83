"""Find the address that identifies this host or container in responses."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

_SIOCGIFADDR = 0x8915


def _interface_ipv4(name: str) -> str | None:
    """Primary IPv4 address of one interface (Linux ioctl), None if it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(
                sock.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15])
            )
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def first_non_loopback_ipv4() -> str | None:
    """First non-loopback IPv4 address of the host, like the original service's lookup."""
    try:
        interfaces = socket.if_nameindex()
    except OSError:
        interfaces = []
    for _, name in interfaces:
        address = _interface_ipv4(name)
        if address and not ipaddress.IPv4Address(address).is_loopback:
            return address
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return None
    return None if ipaddress.IPv4Address(address).is_loopback else address


def served_by(override: str | None = None) -> str:
    """The value of the servedBy field: the override, the host's address, or its name."""
    if override:
        return override
    return first_non_loopback_ipv4() or socket.gethostname()
