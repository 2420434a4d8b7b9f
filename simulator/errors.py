"""
Input and set-up errors, raised before or around a run, never for what happens on
the wire (timeouts, 5xx and resets are data in ``Attempt.error``).

::

    SimulatorError
    ├── UsageError      a flag or option value is out of range or inconsistent
    ├── CatalogError    an unknown subscription type, family or objectTypeId
    ├── SecretError     no client secret, or an unusable one
    └── TargetError     the target URL is malformed, not allowed, or unreachable

Each carries a one-line message meant for a person; the CLI prints it as is.
"""

from __future__ import annotations


class SimulatorError(Exception):
    """
    Base of every error hubsim raises on purpose; the CLI turns it into one line.
    """

    exit_code = 2


class UsageError(SimulatorError):
    """
    Raised when an option's value is out of range or contradicts another one.
    """


class CatalogError(SimulatorError):
    """
    Raised when a subscription type, family or objectTypeId is not one HubSpot sends.
    """


class SecretError(SimulatorError):
    """
    Raised when the client secret is missing or empty.
    """


class TargetError(SimulatorError):
    """
    Raised when the target URL is malformed, non-loopback without permission, or
    refuses connections before the run starts.
    """
