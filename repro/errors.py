"""The errors a user can cause, as one family: the command line prints their message on one line
and exits 2. Anything else that escapes a command is a bug in repro: the command line shows its
traceback and exits 1, asking for a report.

Each subclass is also a ``ValueError``, so library callers that catch
the built-in kinds keep working; the command line catches only :class:`ReproError`, so a
``ValueError`` raised by a bug is never mistaken for bad input.
"""

from __future__ import annotations


class ReproError(Exception):
    """A problem with what the user asked for or gave: one line, exit 2."""


class InputError(ReproError, ValueError):
    """A bad value: an option, a config field, a file whose content cannot be used."""


class ConfigError(InputError):
    """A training config field out of its range or not one of its choices."""


class SchemaError(InputError):
    """A JSON file (report, baseline, run record) without the shape its schema promises."""


class MissingFileError(InputError):
    """A file or folder the command needs does not exist."""


class InUseError(ReproError, ValueError):
    """Another process holds a directory this command must write."""


class EnvironmentMismatch(InputError):
    """A resume or comparison across environments that would change bits silently."""


__all__ = ["ReproError", "InputError", "ConfigError", "SchemaError", "MissingFileError", "InUseError",
           "EnvironmentMismatch"]
