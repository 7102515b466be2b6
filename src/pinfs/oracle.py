"""The live-kernel oracle: run scenarios on Linux and on pinfs, and diff them step by step.

::

    python -m pinfs.oracle tests/scenarios/pin/pin_then_get.scn [...] [--profile LINUX_6_18]
    python -m pinfs.oracle tests/scenarios --record     # freeze the live results into the files

Each scenario (:mod:`pinfs.scenario`) runs in a fresh live sandbox
(:class:`~pinfs.live.kernel.LiveKernel`: private mount and pid namespaces, a chroot into a
scratch tmpfs; the host's ``/sys/fs/bpf`` is never touched) and on a fresh
:class:`pinfs.Kernel` under the scenario's profile (or ``--profile``).  The table shows,
per step, the live result, pinfs's result and a mark: ``!`` they disagree, ``E`` the
live result is not the one written in the file (re-record it), ``~name`` a documented
divergence from :data:`KNOWN_DIVERGENCES`.  The exit status is 0 iff there is neither
``!`` nor ``E``.  Where the live kernel is unavailable (not root, not Linux, no
``bpf(2)``), the reason is printed and pinfs is compared with the results written in
the file instead.

From tests: :func:`compare` returns a :class:`Report`.
"""

from __future__ import annotations

import argparse
import importlib.resources
import itertools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from pinfs.base import profiles
from pinfs.base.profiles import Profile
from pinfs.live.kernel import LiveKernel, live_unavailable_reason
from pinfs.scenario import (
    Flags,
    Int,
    LiveBackend,
    Name,
    PinfsBackend,
    Run,
    Scenario,
    Step,
    Str,
    constants,
    dumps,
    effective_sysctls,
    format_call,
    format_result,
    host_sysctl,
    iter_scenarios,
    load,
    results_equal,
    run_scenario,
    with_results,
)

__all__ = [
    "KNOWN_DIVERGENCES",
    "KnownDivergence",
    "Report",
    "Row",
    "compare",
    "divergence_table",
    "live_profile",
    "main",
    "profile_for_release",
    "profile_named",
    "shipped_catalog",
]


# --------------------------------------------------------------------------- divergences


@attrs.frozen
class KnownDivergence:
    """A documented difference between this machine's kernel and what pinfs models.
    ``applies(step, reference, pinfs)`` gets the step and both result texts (the
    reference is the live result, or the recorded one when no live kernel runs).
    ``summary`` is the row of the table in docs/oracle.md (:func:`divergence_table`)."""

    summary: str
    reason: str
    applies: Callable[[Step, str, str], bool]


_DEBUG_FILES = ("maps.debug", "progs.debug")


def _touches_debug_files(step: Step, reference: str, pinfs: str) -> bool:
    for arg in step.args:
        if isinstance(arg, Str) and arg.value.rstrip("/").rsplit("/", 1)[-1] in _DEBUG_FILES:
            return True
    return False


def _int_has(arg: object, bit: int) -> bool:
    names = constants()
    if isinstance(arg, Int):
        return bool(arg.value & bit)
    if isinstance(arg, Name):
        return bool(names.get(arg.name, 0) & bit)
    if isinstance(arg, Flags):
        return any(_int_has(p, bit) for p in arg.parts)
    return False


def _userns_in_chroot(step: Step, reference: str, pinfs: str) -> bool:
    return (
        step.op == "unshare"
        and bool(step.args)
        and _int_has(step.args[0], 0x10000000)
        and reference == "EPERM"
    )


def _verifier_rejects(step: Step, reference: str, pinfs: str) -> bool:
    loads = step.op == "prog_load" or (
        step.op == "bpf" and bool(step.args) and _int_value(step.args[0]) == 5
    )
    return loads and reference in ("EINVAL", "EACCES") and pinfs.startswith("fd ")


def _int_value(arg: object) -> int | None:
    if isinstance(arg, Int):
        return arg.value
    if isinstance(arg, Name):
        return constants().get(arg.name)
    return None


def _ramfs_boot_root(step: Step, reference: str, pinfs: str) -> bool:
    """Steps that see the root filesystem's type: TMPFS_MAGIC and tmpfs's rename flags
    live, ramfs in pinfs (and a stat that follows such a rename)."""
    paths = [a.value for a in step.args if isinstance(a, Str)]
    on_root = bool(paths) and all(p.startswith(("/tmp/", "/")) for p in paths)
    if step.op == "statfs":
        return "0x1021994" in reference and "0x858458f6" in pinfs
    if step.op == "rename":
        return on_root and reference == "ok" and pinfs == "EINVAL"
    return step.op == "stat" and on_root and "stat(" in reference and "stat(" in pinfs


def _delegation_option(step: Step, reference: str, pinfs: str) -> bool:
    """bpffs ``delegate_*`` mount options (BPF token, v6.9)."""
    return step.op == "mount" and any(
        isinstance(a, Str) and "delegate_" in a.value for a in step.args
    )


#: Every documented divergence, in one place.  A step that disagrees and matches one
#: is marked ``~name`` and listed in the summary; it is never dropped silently.
KNOWN_DIVERGENCES: dict[str, KnownDivergence] = {
    "preload-debug-files": KnownDivergence(
        summary=(
            "the kernel-made `maps.debug`/`progs.debug` of every new instance: upstream "
            "readable iterator links (pinfs too); live open(2) and OBJ_GET give ENOENT and "
            "unlink/rename/link EPERM"
        ),
        reason=(
            "CONFIG_BPF_PRELOAD (d71fa5c9763c, v5.10) makes every new bpffs instance hold "
            "maps.debug and progs.debug (0400, the mounter's). Upstream they are pinned "
            "iterator links that read(2) runs; on this machine's 6.18 they are listed and "
            "stat/chmod/chown work, but open(2) and BPF_OBJ_GET give ENOENT and "
            "unlink/rename/link give EPERM. pinfs models upstream "
            "(LINUX_6_18.preload_links='iterator_links': OBJ_GET gives a link fd, open+read "
            "list the maps/programs, unlink works; 'inert' gives EIO / EACCES)."
        ),
        applies=_touches_debug_files,
    ),
    "live-sandbox-chroot-userns": KnownDivergence(
        summary=(
            "`unshare(CLONE_NEWUSER)` is EPERM for chrooted callers, and every `LiveKernel` "
            "task is chrooted"
        ),
        reason=(
            "unshare(CLONE_NEWUSER) is EPERM for a chrooted caller (kernel/user_namespace.c "
            "create_user_ns: current_chrooted()). Every LiveKernel task is chrooted into the "
            "scratch tmpfs, so the live side can never make a user namespace; pinfs tasks "
            "are not chrooted."
        ),
        applies=_userns_in_chroot,
    ),
    "ramfs-boot-root": KnownDivergence(
        summary=(
            "pinfs boots a ramfs root, the live sandbox a tmpfs: `statfs` type, renameat2 "
            "flags on the root, and a `stat` after such a rename differ"
        ),
        reason=(
            "pinfs boots a ramfs root (and /tmp); the live sandbox's root is a tmpfs, as "
            "rootfs is with CONFIG_TMPFS. statfs says RAMFS_MAGIC, and the root takes no "
            "renameat2 flags (ramfs's simple_rename); a tmpfs mounted in pinfs behaves "
            "like the live one. Booting pinfs on tmpfs is a planned change."
        ),
        applies=_ramfs_boot_root,
    ),
    "bpf-token-delegation": KnownDivergence(
        summary=(
            "bpffs `delegate_*` mount options (BPF tokens, v6.9) are ignored by pinfs, so a "
            "bad value is not EINVAL"
        ),
        reason=(
            "BPF tokens and bpffs's delegate_cmds/maps/progs/attachs options (6fe01d3cbb92, "
            "6c1752e0b6ca, v6.9) are out of scope: pinfs ignores the keys like any unknown "
            "option, so a bad value is not EINVAL."
        ),
        applies=_delegation_option,
    ),
    "verifier-analysis": KnownDivergence(
        summary=(
            "pinfs does not run the verifier's analysis: a program the live verifier rejects "
            "(EINVAL/EACCES) loads in pinfs"
        ),
        reason=(
            "pinfs runs BPF_PROG_LOAD's structural checks and the map-reference pass but "
            "not the verifier's analysis (out of scope, docs/index.md): a program the live "
            "verifier rejects (EINVAL/EACCES, e.g. no final exit) loads in pinfs."
        ),
        applies=_verifier_rejects,
    ),
}


def known_divergence(step: Step, reference: str, pinfs: str) -> str | None:
    """The name of the documented divergence that explains a disagreement, if any."""
    for name, div in KNOWN_DIVERGENCES.items():
        if div.applies(step, reference, pinfs):
            return name
    return None


# --------------------------------------------------------------------------- reports


@attrs.frozen
class Row:
    """One step of a comparison."""

    index: int
    lineno: int
    call: str
    expected: str | None
    live: str | None
    pinfs: str
    mark: str  # "" agree, "!" live != pinfs, "E" live != file, "~name" known

    @property
    def disagrees(self) -> bool:
        return "!" in self.mark

    @property
    def stale(self) -> bool:
        return "E" in self.mark

    @property
    def known(self) -> str | None:
        return self.mark[1:] if self.mark.startswith("~") else None


@attrs.define
class Report:
    """The step-by-step comparison of one scenario."""

    scenario: Scenario
    profile: str
    live_reason: str | None  # why the live kernel did not run (None: it did)
    rows: list[Row]
    warnings: list[str]
    live_run: Run | None = None
    pinfs_run: Run | None = None
    profile_source: str = ""  # where the profile came from (--profile, the file, uname)

    @property
    def disagreements(self) -> list[Row]:
        return [r for r in self.rows if r.disagrees]

    @property
    def stale(self) -> list[Row]:
        return [r for r in self.rows if r.stale]

    @property
    def known(self) -> list[Row]:
        return [r for r in self.rows if r.known]

    @property
    def ok(self) -> bool:
        """No disagreement and no stale expectation."""
        return not self.disagreements and not self.stale

    def format(self, *, only_problems: bool = False) -> str:
        """The aligned table (step, call, live, pinfs, mark) and details of each problem."""
        ref_name = "live" if self.live_reason is None else "expected"
        source = f", {self.profile_source}" if self.profile_source else ""
        head = f"== {self.scenario.name or '<scenario>'} (profile {self.profile}{source})"
        lines = [head]
        if self.live_reason is not None:
            lines.append(f"   live kernel not used: {self.live_reason}")
            lines.append("   comparing pinfs with the results written in the file")
        for w in self.warnings:
            lines.append(f"   warning: {w}")
        rows = [r for r in self.rows if r.mark] if only_problems else self.rows
        if rows:
            table = [
                (
                    str(r.index),
                    str(r.lineno),
                    _clip(r.call, 52),
                    _clip((r.live if self.live_reason is None else r.expected) or "-", 30),
                    _clip(r.pinfs, 30),
                    r.mark,
                )
                for r in rows
            ]
            header = ("step", "line", "call", ref_name, "pinfs", "mark")
            widths = [max(len(x[i]) for x in [header, *table]) for i in range(6)]
            for cells in [header, *table]:
                lines.append(
                    "  "
                    + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
                )
        for r in self.rows:
            if r.mark:
                ref = r.live if self.live_reason is None else r.expected
                what = (
                    f"known divergence {r.known}"
                    if r.known
                    else ("disagreement" if r.disagrees else "stale expectation")
                )
                detail = (
                    f"   line {r.lineno}: {what}: {r.call}\n"
                    f"      {ref_name}: {ref}\n      pinfs: {r.pinfs}"
                )
                if r.stale and self.live_reason is None:
                    detail += f"\n      file:  {r.expected}"
                lines.append(detail)
        return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --------------------------------------------------------------------------- comparing


# --------------------------------------------------------------------------- profiles


def profile_names() -> list[str]:
    """The profile names the oracle accepts, one spelling each (others: see
    :func:`profile_named`)."""
    return [*profiles.PRESETS, "latest"]


def profile_named(name: str) -> Profile:
    """The preset called ``name``: ``linux-6.18``, ``LINUX_6_18``, ``6.18``, ``seed``,
    ``SEED`` or ``latest``.  Anything else is a ValueError that lists the valid names
    (a typo must not silently run another kernel's rules)."""
    if not isinstance(name, str):
        raise TypeError(f"profile: expected a str, got {type(name).__name__}")
    norm = name.strip().lower().replace("_", "-").replace(".", "-")
    if norm == "latest":
        return profiles.LATEST
    for preset_name, preset in profiles.PRESETS.items():
        spelled = preset_name.replace(".", "-")
        if norm in (spelled, spelled.removeprefix("linux-")):
            return preset
    raise ValueError(f"unknown profile {name!r}; valid names: {', '.join(profile_names())}")


def _version_code(release: str) -> int | None:
    """``6.18.44-fc`` -> KERNEL_VERSION(6, 18, 44); None if it does not start with digits."""
    numbers: list[int] = []
    for part in release.split("-", 1)[0].split(".")[:3]:
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        numbers.append(int(digits))
    if len(numbers) < 2:
        return None
    major, minor, patch = (*numbers, 0)[:3]
    return (major << 16) | (minor << 8) | min(patch, 255)


def profile_for_release(release: str) -> Profile:
    """The nearest preset at or below kernel ``release`` (``uname -r``): 6.18.44 is
    ``linux-6.18``, 6.1 is ``linux-5.10``, 4.3 the seed.  An unreadable release is the
    latest preset (the catalog's reference machine)."""
    code = _version_code(release)
    if code is None:
        return profiles.LATEST
    at_or_below = [p for p in profiles.PRESETS.values() if p.linux_version_code <= code]
    if not at_or_below:
        return profiles.SEED
    return max(at_or_below, key=lambda p: p.linux_version_code)


def live_profile() -> tuple[Profile, str]:
    """The profile for a scenario with no ``profile`` line: the preset of the running
    kernel (``os.uname().release``) on Linux, else the latest; and why, for the report."""
    uname = os.uname()
    if uname.sysname != "Linux":
        return profiles.LATEST, f"latest preset; {uname.sysname} is not Linux"
    chosen = profile_for_release(uname.release)
    return chosen, f"the live kernel's: uname -r {uname.release}"


def _choose_profile(profile: Profile | str | None, sc: Scenario) -> tuple[Profile, str]:
    """``--profile`` first, then the scenario's ``profile`` line (with its switches),
    then the live kernel's; and where the choice came from."""
    if isinstance(profile, Profile):
        return profile, "given"
    if profile is not None:
        return profile_named(profile), "--profile"
    if sc.profile is None:
        return live_profile()
    chosen = _scenario_preset(sc.profile)
    if sc.profile_switches:
        chosen = attrs.evolve(chosen, **dict(sc.profile_switches))
    return chosen, "the scenario's profile line"


def _scenario_preset(name: str) -> Profile:
    """A scenario's profile line names an attribute of :mod:`pinfs.base.profiles`
    (``LINUX_6_18``) or a preset (``linux-6.18``)."""
    obj = getattr(profiles, name, None)
    return obj if isinstance(obj, Profile) else profile_named(name)


# --------------------------------------------------------------------------- comparing


def compare(
    scenario: Scenario | str | Path,
    profile: Profile | str | None = None,
    *,
    live: LiveKernel | None = None,
    use_live: bool = True,
) -> Report:
    """Run ``scenario`` on the live kernel (``live``, or a fresh sandbox) and on pinfs
    under ``profile`` (default: the scenario's ``profile`` line, else the live kernel's
    preset, :func:`live_profile`), and compare them step by step.  Without a live
    kernel (or with ``use_live=False``), compare pinfs with the file.  An unknown
    profile name is a ValueError listing the valid ones."""
    sc = scenario if isinstance(scenario, Scenario) else load(scenario)
    prof, source = _choose_profile(profile, sc)
    reason: str | None = "not requested" if not use_live else None
    if reason is None and live is None:
        reason = live_unavailable_reason()
    warnings: list[str] = []
    live_run: Run | None = None
    if reason is None:
        live_run = run_scenario(sc, LiveBackend(live))
        warnings.extend(f"live: {w}" for w in live_run.warnings)
        host = {k: v for k in effective_sysctls(sc) if (v := host_sysctl(k)) is not None}
        backend = PinfsBackend(prof, all_caps=live_run.all_caps, sysctls=host)
    else:
        backend = PinfsBackend(prof)
    pinfs_run = run_scenario(sc, backend)
    warnings.extend(f"pinfs: {w}" for w in pinfs_run.warnings)
    rows: list[Row] = []
    live_by_line = {r.lineno: r for r in live_run} if live_run is not None else {}
    for p in pinfs_run:
        step = p.step
        expected = format_result(step.expect) if step.expect is not None else None
        lr = live_by_line.get(p.lineno)
        mark = ""
        if lr is not None:
            if not results_equal(lr.observed, p.observed):
                name = known_divergence(step, lr.text, p.text)
                mark = f"~{name}" if name else "!"
            if step.expect is not None and not results_equal(step.expect, lr.observed):
                mark = mark + "E" if not mark.startswith("~") else mark
        elif step.expect is not None and not results_equal(step.expect, p.observed):
            assert expected is not None
            name = known_divergence(step, expected, p.text)
            mark = f"~{name}" if name else "!"
        rows.append(
            Row(
                p.index,
                p.lineno,
                format_call(step),
                expected,
                lr.text if lr is not None else None,
                p.text,
                mark,
            )
        )
    report = Report(sc, prof.name, reason, rows, warnings, live_run, pinfs_run)
    report.profile_source = source
    return report


def backend_profile(profile: Profile | str | None) -> Profile:
    """The profile object a name stands for (None: the live kernel's preset); an
    unknown name is a ValueError."""
    if isinstance(profile, Profile):
        return profile
    return live_profile()[0] if profile is None else profile_named(profile)


# --------------------------------------------------------------------------- the docs table


def divergence_table() -> str:
    """The Markdown table of :data:`KNOWN_DIVERGENCES` that docs/oracle.md shows
    (``python -m pinfs.oracle --divergence-table`` prints it; a test keeps them equal)."""
    lines = ["| name | what |", "|---|---|"]
    lines += [f"| `{name}` | {div.summary} |" for name, div in KNOWN_DIVERGENCES.items()]
    return "\n".join(lines)


def summary(reports: Sequence[Report]) -> str:
    """``N scenarios, M steps, K disagreements`` (and the known and stale counts)."""
    steps = sum(len(r.rows) for r in reports)
    dis = sum(len(r.disagreements) for r in reports)
    line = f"{len(reports)} scenarios, {steps} steps, {dis} disagreements"
    known = sum(len(r.known) for r in reports)
    stale = sum(len(r.stale) for r in reports)
    extras = []
    if known:
        names = sorted({row.known for r in reports for row in r.known if row.known})
        extras.append(f"{known} known divergences ({', '.join(names)})")
    if stale:
        extras.append(f"{stale} stale expectations")
    if any(r.live_reason is not None for r in reports):
        extras.append("pinfs compared with recorded results (no live kernel)")
    return line + ("; " + "; ".join(extras) if extras else "")


# --------------------------------------------------------------------------- command line


def shipped_catalog() -> Path:
    """The directory of the scenario catalog installed with pinfs (``tests/scenarios``
    of the source tree, shipped as package data ``pinfs/scenario/catalog``)."""
    catalog = Path(str(importlib.resources.files("pinfs.scenario") / "catalog"))
    if not catalog.is_dir():
        raise FileNotFoundError(f"the scenario catalog is not installed at {catalog}")
    return catalog


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pinfs.oracle",
        description="Run scenarios on the live kernel and on pinfs and diff them.",
        epilog=f"profiles: {', '.join(profile_names())} (also LINUX_6_18, 6.18)",
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        help="scenario files or directories (*.scn); with --shipped, groups or files "
        "of the installed catalog (pin, perms/chmod_pin.scn, ...)",
    )
    parser.add_argument(
        "--shipped", action="store_true", help="run the catalog installed with pinfs"
    )
    parser.add_argument(
        "--profile",
        help="pinfs profile for every scenario (default: the scenario's profile line, "
        "else the live kernel's preset from uname)",
    )
    parser.add_argument(
        "--record", action="store_true", help="write the live results into the files"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only steps that do not agree"
    )
    parser.add_argument(
        "--divergence-table",
        action="store_true",
        help="print the known-divergence table of docs/oracle.md and exit",
    )
    return parser


def _scenario_paths(args: argparse.Namespace) -> list[Path]:
    if not args.shipped:
        return list(iter_scenarios(args.scenarios))
    catalog = shipped_catalog()
    names = args.scenarios or ["."]
    return list(iter_scenarios([str(catalog / name) for name in names]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.divergence_table:
        print(divergence_table())
        return 0
    if args.profile is not None:
        try:
            profile_named(args.profile)
        except ValueError as err:
            parser.error(str(err))
    if not args.scenarios and not args.shipped:
        parser.error("give scenario files or directories, or --shipped")
    if args.record and args.shipped:
        parser.error("--record writes into the files; record a copy, not the installed catalog")
    paths = _scenario_paths(args)
    missing = [p for p in paths if not p.is_file()]
    if missing or not paths:
        print(
            f"no such scenario file: {missing[0]}" if missing else "no scenario files found",
            file=sys.stderr,
        )
        return 2
    if args.record:
        return _record(paths)
    reports = []
    for path in paths:
        try:
            report = compare(path, args.profile)
        except ValueError as err:
            print(f"{path}: {err}", file=sys.stderr)
            return 2
        reports.append(report)
        if not (args.quiet and report.ok and not report.known and not report.warnings):
            print(report.format(only_problems=args.quiet))
    print(summary(reports))
    return 0 if all(r.ok for r in reports) else 1


def _record(paths: Sequence[Path]) -> int:
    reason = live_unavailable_reason()
    if reason is not None:
        print(f"cannot record: live kernel unavailable: {reason}", file=sys.stderr)
        return 2
    changed = 0
    for path in paths:
        sc = load(path)
        run = run_scenario(sc, LiveBackend())
        new = with_results(sc, run)
        for w in run.warnings:
            print(f"{path}: warning: {w}")
        text = dumps(new)
        if text != path.read_text():
            path.write_text(text)
            changed += 1
            print(f"recorded {path}")
    print(f"{len(paths)} scenarios, {changed} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
