"""Hosting unmodified programs on the simulated kernel: ``pinfs run -- CMD``.

Every bpf(2) call and every file operation on a simulated bpffs mount is served by
pinfs through seccomp user notification (no root, no ptrace); everything else runs on
the real kernel.  See docs/run.md.
"""
