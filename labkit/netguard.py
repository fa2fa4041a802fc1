"""Offline guard: with ``LABKIT_NO_NETWORK=1`` any connection outside loopback raises at once.

The test command sets it, so a notebook that reaches for the model hub, a dataset hub or AWS in
the tiny profile fails loudly instead of silently downloading. Loopback stays open for the local
AWS emulator and Jupyter's own kernels.
"""

from __future__ import annotations

import ipaddress
import os
import socket

_installed = False
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


class NetworkBlockedError(ConnectionRefusedError):
    """Raised when code tries to reach a non-loopback address while the guard is on."""


def active() -> bool:
    """Is the offline guard requested by the environment?"""
    return os.environ.get("LABKIT_NO_NETWORK", "").strip().lower() in {"1", "true", "yes", "on"}


def _is_local(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address) -> None:
    if not _is_local(address):
        raise NetworkBlockedError(
            f"labkit blocked a connection to {address!r}: LABKIT_NO_NETWORK=1 allows loopback only. "
            "In the tiny profile nothing should need the network; unset LABKIT_NO_NETWORK to go online."
        )


def _guarded_connect(self, address):
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check(address)
    return _real_connect_ex(self, address)


def install() -> bool:
    """Install the guard if ``LABKIT_NO_NETWORK`` asks for it. Returns whether it is installed."""
    global _installed
    if active() and not _installed:
        socket.socket.connect = _guarded_connect
        socket.socket.connect_ex = _guarded_connect_ex
        _installed = True
    return _installed
