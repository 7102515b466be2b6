"""pinfs.testing: Hypothesis strategies, a state machine, a reference model and a
pytest plugin for testing pinning logic against pinfs.

* :mod:`pinfs.testing.strategies`: strategies for credentials, modes, names and paths,
  map and program specs, raw ``bpf_attr`` bytes and operation scripts;
* :class:`PinningMachine`: a ``RuleBasedStateMachine`` over a :class:`pinfs.Kernel`,
  checked against ``check_invariants()`` and the reference model after every step;
  subclass it to add your own rules and invariants;
* :class:`RefModel` (:mod:`pinfs.testing.model`): who holds what, worked out from the
  meaning of each successful operation; :class:`Driver` and :func:`run_script`
  (:mod:`pinfs.testing.runner`) run operations with the model in step;
* :mod:`pinfs.testing.plugin`: the ``kernel`` fixture and the ``--pinfs-profile``
  option / ``pinfs_profile`` marker (registered as a pytest plugin).

The strategies and the machine need Hypothesis (``pip install 'pinfs[test]'``); without
it, using them raises an ImportError that says so, while the model, the driver and
the pytest fixture keep working.  ``from pinfs.testing import *`` brings in every name
a printed failing example uses
(the value classes, and the helpers Hypothesis shows values built with:
``pack_attr``, ``patched_attr``, ``bpffs_path``, ``RETURN_ZERO``, ``BPF_LD_MAP_FD``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pinfs.ebpf.attr import pack_attr
    from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
    from pinfs.testing.model import ModelMismatch, ModelScopeError, RefModel
    from pinfs.testing.runner import ARENA, Driver, Outcome, run_script
    from pinfs.testing.stateful import FdRef, PinningMachine
    from pinfs.testing.strategies import BpfCall, Creds, MapSpec, ProgSpec, bpffs_path, patched_attr

__all__ = [
    "ARENA",
    "BPF_LD_MAP_FD",
    "RETURN_ZERO",
    "BpfCall",
    "Creds",
    "Driver",
    "DrivenTask",
    "FdRef",
    "MapSpec",
    "ModelMismatch",
    "ModelScopeError",
    "Outcome",
    "PinningMachine",
    "ProgSpec",
    "RefModel",
    "bpffs_path",
    "pack_attr",
    "patched_attr",
    "run_script",
]

_HOME = {
    "ARENA": "runner",
    "BPF_LD_MAP_FD": "..ebpf.prog",
    "RETURN_ZERO": "..ebpf.prog",
    "bpffs_path": "strategies",
    "pack_attr": "..ebpf.attr",
    "patched_attr": "strategies",
    "BpfCall": "strategies",
    "Creds": "strategies",
    "Driver": "runner",
    "DrivenTask": "runner",
    "FdRef": "stateful",
    "MapSpec": "strategies",
    "ModelMismatch": "model",
    "ModelScopeError": "model",
    "Outcome": "runner",
    "PinningMachine": "stateful",
    "ProgSpec": "strategies",
    "RefModel": "model",
    "run_script": "runner",
}


def __getattr__(name: str) -> Any:
    """Import on first use, so that ``import pinfs.testing`` (and the pytest plugin)
    works without Hypothesis."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = f"pinfs.{home[2:]}" if home.startswith("..") else f"{__name__}.{home}"
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Only the public names (not the helpers this module imports for itself)."""
    return sorted(__all__)
