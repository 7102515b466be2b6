"""What the pytest plugin selected, for code that cannot take a fixture.

``selected_profile`` is the ``--pinfs-profile`` of the running pytest session (None
outside pytest); :class:`~pinfs.testing.PinningMachine` subclasses without a profile of
their own boot it.  A module of its own so the plugin need not import Hypothesis.
"""

from __future__ import annotations

from pinfs.base.profiles import Profile

selected_profile: Profile | None = None
