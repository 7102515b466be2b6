"""A pin-or-reuse loader, as a user of pinfs would write it."""

from pinloader.loader import MapSpec, Mismatch, pin_or_reuse

__all__ = ["MapSpec", "Mismatch", "pin_or_reuse"]
