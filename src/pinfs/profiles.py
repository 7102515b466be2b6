"""Kernel profiles: which kernel pinfs imitates, as data read in one place.

A :class:`Profile` holds one named switch per user-visible change; the code reads a
switch where the behaviour lives.  :data:`SEED` is the kernel of commit b2197755
(Oct 2015), the default.  Settings useful for teaching (a narrower reference counter)
are made with ``attrs.evolve(SEED, refcnt_bits=8)``.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Profile:
    """Behaviour switches; each names the commit that flipped it."""

    name: str = "seed"
    #: Width of ``bpf_map.refcnt`` / ``bpf_prog_aux.refcnt``: 32 (``atomic_t``) at the
    #: seed, where 2^32 increments wrap to a use-after-free (CVE-2016-4558); 64 since
    #: 1e0bd5a091e5/85192dbf4de0 (v5.5).  Turn it down (e.g. 8) to watch the wrap.
    refcnt_bits: int = 32
    #: ``BPF_MAX_REFCNT``: None at the seed; 32768 from 92117d8443bc (v4.6, 4.4.11,
    #: the CVE-2016-4558 fix) until v5.5.  Taking a reference beyond it fails (EBUSY).
    refcnt_limit: int | None = None
    #: c9da161c6517 (v4.4): a separate user count on maps; a PROG_ARRAY is flushed when
    #: the last fd *and* pin are gone.  At the seed (False) it is flushed on every
    #: release of any of its files (S95).
    prog_array_flush_on_last_uref: bool = False
    #: ``LINUX_VERSION_CODE`` that KPROBE programs must quote (net-next on v4.3).
    linux_version_code: int = 0x040300

    def __repr__(self) -> str:
        return f"<Profile {self.name}>"


SEED = Profile()
