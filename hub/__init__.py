"""Clinical integration hub: HL7 v2, FHIR and feeds in; journaled events out over Socket.IO."""

from hub.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
