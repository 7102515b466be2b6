"""``python -m bench``: run (a)-(e), print the table, write the JSON.

Options:

``--quick``      tiny repetitions and N = 1,000 (the CI smoke run: no root needed, < 20 s)
``--full``       the scale benchmark (d) with N = 1,000,000 (default 100,000)
``--json PATH``  where to write the JSON (default ``bench/results/latest.json``)
``--no-live``    do not start the live-kernel sandbox
``--only LIST``  run only some of a,b,c,d,e (comma-separated; (c)'s ratio needs (a))
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import SCHEMA_VERSION, contenders
from bench.live import LiveSandbox
from bench.machine import measure_machine
from bench.report import evaluate_targets, render, write_json
from bench.timing import Series, Timer, interleave

__all__ = ["Config", "main"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"
SECTIONS = ("a", "b", "c", "d", "e")


@dataclasses.dataclass
class Config:
    mode: str
    reps: int
    rep_seconds: float
    scale_n: int
    trace_n: int
    scale_reps: int
    scale_rep_seconds: float
    machine_examples: int
    machine_steps: int
    machine_reps: int

    @classmethod
    def make(cls, quick: bool, full: bool) -> Config:
        if quick:
            return cls("quick", 3, 0.005, 1_000, 1_000, 3, 0.005, 5, 10, 1)
        n = 1_000_000 if full else 100_000
        return cls("full" if full else "default", 11, 0.15, n, 20_000, 7, 0.1, 50, 50, 3)


# --------------------------------------------------------------------------- helpers


def _run_interleaved(
    cfg: Config,
    factories: Mapping[str, Callable[[], contenders.Contender]],
    live: Mapping[str, Timer],
    skipped: Mapping[str, str],
) -> dict[str, Any]:
    timers: dict[str, Timer] = {}
    checks = []
    for name, make in factories.items():
        c = make()
        timers[name] = c.timer
        checks.append(c.check)
    timers.update(live)
    gc.collect()
    series = interleave(timers, cfg.reps, cfg.rep_seconds)
    for check in checks:
        check()
    return _section(series, skipped)


def _section(series: Mapping[str, Series], skipped: Mapping[str, str]) -> dict[str, Any]:
    return {
        "contenders": {name: s.to_json() for name, s in series.items()},
        "skipped": dict(skipped),
        "ratios": {},
    }


def _ratio(sec: dict[str, Any], a: str, b: str) -> None:
    c = sec["contenders"]
    if a in c and b in c:
        sec["ratios"][f"{a}/{b}"] = c[a]["ops_per_s_median"] / c[b]["ops_per_s_median"]


# --------------------------------------------------------------------------- sections


def bench_a(cfg: Config, box: LiveSandbox | None, live_reason: str | None) -> dict[str, Any]:
    live = {"live": box.timer("cycle")} if box else {}
    skipped = {} if box else {"live": str(live_reason)}
    sec = _run_interleaved(cfg, {"pinfs": contenders.pinfs_cycle}, live, skipped)
    _ratio(sec, "pinfs", "live")
    return sec


def bench_b(cfg: Config, box: LiveSandbox | None, live_reason: str | None) -> dict[str, Any]:
    fake_reason = contenders.fakefs_available()
    out: dict[str, Any] = {}
    for key, loop, p, f in (
        ("mkdir_rmdir", "mkdir", contenders.pinfs_mkdir, contenders.fakefs_mkdir),
        ("create_unlink", "create", contenders.pinfs_create, contenders.fakefs_create),
    ):
        factories: dict[str, Callable[[], contenders.Contender]] = {"pinfs": p}
        skipped: dict[str, str] = {}
        if fake_reason is None:
            factories["pyfakefs"] = f
        else:
            skipped["pyfakefs"] = fake_reason
        live = {"live": box.timer(loop)} if box else {}
        if not box:
            skipped["live"] = str(live_reason)
        sec = _run_interleaved(cfg, factories, live, skipped)
        _ratio(sec, "pinfs", "pyfakefs")
        _ratio(sec, "pinfs", "live")
        _ratio(sec, "live", "pyfakefs")
        out[key] = sec
    return out


def bench_c(
    cfg: Config, box: LiveSandbox | None, live_reason: str | None, a: dict[str, Any] | None
) -> dict[str, Any]:
    shallow, deep = contenders.pinfs_get_depth()
    timers: dict[str, Timer] = {"pinfs_depth1": shallow.timer, "pinfs_depth16": deep.timer}
    skipped: dict[str, str] = {}
    if box:
        timers["live_depth1"] = box.timer("get_depth1")
        timers["live_depth16"] = box.timer("get_depth16")
    else:
        skipped["live_depth1"] = skipped["live_depth16"] = str(live_reason)
    gc.collect()
    series = interleave(timers, cfg.reps, cfg.rep_seconds)
    shallow.check()
    sec = _section(series, skipped)
    extra = contenders.DEPTH_DIRS - 1
    derived: dict[str, Any] = {"extra_components": extra}
    cycles = (a or {}).get("contenders", {})
    for who in ("pinfs", "live"):
        s1, s16 = series.get(f"{who}_depth1"), series.get(f"{who}_depth16")
        if s1 is None or s16 is None:
            continue
        per = (s16.us_per_op - s1.us_per_op) / extra
        entry: dict[str, Any] = {
            "get_depth1_us": s1.us_per_op,
            "get_depth16_us": s16.us_per_op,
            "per_component_us": per,
        }
        if who in cycles:
            cyc = float(cycles[who]["us_per_op_median"])
            entry["cycle_us"] = cyc
            entry["per_component_over_cycle"] = per / cyc
        derived[who] = entry
    p, li = derived.get("pinfs", {}), derived.get("live", {})
    if "per_component_over_cycle" in p and "per_component_over_cycle" in li:
        if li["per_component_over_cycle"] > 0:
            derived["pinfs_ratio_over_live_ratio"] = (
                p["per_component_over_cycle"] / li["per_component_over_cycle"]
            )
        else:
            derived["reason"] = "the live per-component cost was not measurable (<= 0)"
    elif "live" not in derived:
        derived["reason"] = f"live: {live_reason}"
    else:
        derived["reason"] = "needs the cycle costs of (a) (run with a)"
    sec["derived"] = derived
    return sec


def bench_d(cfg: Config) -> dict[str, Any]:
    layouts: dict[str, Any] = {}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    for layout in ("flat", "fanout"):
        cmd = [
            sys.executable,
            "-m",
            "bench.scale",
            "--n",
            str(cfg.scale_n),
            "--layout",
            layout,
            "--trace-n",
            str(cfg.trace_n),
            "--reps",
            str(cfg.scale_reps),
            "--rep-seconds",
            str(cfg.scale_rep_seconds),
        ]
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=4 * 3600, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
        layouts[layout] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"n": cfg.scale_n, "layouts": layouts}


def bench_e(cfg: Config) -> dict[str, Any]:
    return measure_machine(cfg.machine_examples, cfg.machine_steps, cfg.machine_reps)


# --------------------------------------------------------------------------- meta


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _loadavg() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def meta(
    cfg: Config, argv: list[str], started_at: str, load0: list[float] | None, commit: str | None
) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "date": started_at,
        "finished": _now(),
        "mode": cfg.mode,
        "argv": argv,
        "config": dataclasses.asdict(cfg),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "euid": os.geteuid() if hasattr(os, "geteuid") else None,
        "loadavg_at_start": load0,
        "loadavg_at_end": _loadavg(),
        "pinfs_commit": commit,  # HEAD when the run started (the tree may be dirty)
        "versions": {d: _version(d) for d in ("pinfs", "pyfakefs", "hypothesis", "attrs")},
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description="pinfs benchmarks (issue 7): pinfs vs the live kernel and pyfakefs",
    )
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="tiny repetitions (CI smoke)")
    mode.add_argument("--full", action="store_true", help="scale benchmark with 1,000,000 pins")
    ap.add_argument("--json", default=str(DEFAULT_JSON), metavar="PATH", help="JSON output")
    ap.add_argument("--no-live", action="store_true", help="skip the live kernel")
    ap.add_argument("--only", default=",".join(SECTIONS), help="sections to run, e.g. a,c")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="exit 0 even when a target FAILs (the default exits 1, so scripts notice)",
    )
    args = ap.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if not only <= set(SECTIONS):
        ap.error(f"--only takes a subset of {','.join(SECTIONS)}")
    cfg = Config.make(args.quick, args.full)
    started, started_at, load0 = time.perf_counter(), _now(), _loadavg()
    commit = _git_commit()

    box: LiveSandbox | None = None
    live_reason: str | None = "--no-live"
    if not args.no_live and only & {"a", "b", "c"}:
        # Forked first, while this process is small and single-threaded.
        box, live_reason = LiveSandbox.start()
    results: dict[str, Any] = {}
    try:
        if "a" in only:
            progress("a", "pin + get + close + unlink", started)
            results["a"] = bench_a(cfg, box, live_reason)
        if "b" in only:
            progress("b", "mkdir + rmdir, create + unlink against pyfakefs", started)
            results["b"] = bench_b(cfg, box, live_reason)
        if "c" in only:
            progress("c", "cost per path component", started)
            results["c"] = bench_c(cfg, box, live_reason, results.get("a"))
        if box is not None:
            results["live_sandbox"] = box.info
    finally:
        if box is not None:
            box.close()
    if "d" in only:
        progress("d", f"{cfg.scale_n:,} pins: memory and OBJ_GET time", started)
        results["d"] = bench_d(cfg)
    if "e" in only:
        progress("e", "PinningMachine steps per second", started)
        results["e"] = bench_e(cfg)
    for s in SECTIONS:
        if s not in results:
            results[s] = {"skipped_reason": "not selected (--only)"}
    if box is None:
        results.setdefault("live_sandbox", {"skipped_reason": live_reason})

    doc: dict[str, Any] = {"meta": meta(cfg, argv, started_at, load0, commit), "results": results}
    doc["targets"] = evaluate_targets(results, judged=cfg.mode != "quick")
    doc["meta"]["elapsed_s"] = time.perf_counter() - started
    print(render(doc))
    write_json(doc, args.json)
    print(f"\nJSON written to {args.json} ({doc['meta']['elapsed_s']:.1f} s)")
    failed = [t["id"] for t in doc["targets"] if t["status"] == "FAIL"]
    if failed and not args.report_only:
        print(f"targets failed: {', '.join(failed)} (--report-only exits 0)", file=sys.stderr)
        return 1
    return 0


def progress(section: str, what: str, started: float) -> None:
    """One line on stderr per section, so a long run shows it is working."""
    elapsed = time.perf_counter() - started
    print(f"bench: [{elapsed:5.1f} s] section {section}: {what} ...", file=sys.stderr, flush=True)
