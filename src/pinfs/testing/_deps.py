"""Hypothesis is a dependency of the strategies and the state machine only."""

from __future__ import annotations

MISSING = (
    "pinfs.testing's strategies and state machine need Hypothesis, which pinfs installs "
    "with its test extra: pip install 'pinfs[test]'"
)
