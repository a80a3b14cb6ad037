#!/usr/bin/env python3
"""Benchmark: `release deploy` of a ~50 MB artifact to 10 sshd hosts vs. a raw parallel ssh baseline.

Measured in the same run, on the same hosts, with the same artifact file:

  baseline   all hosts at once, one ssh process each:
             ssh HOST 'mkdir -p /srv/raw/rN && cat > /srv/raw/a.tar.gz && tar xzf /srv/raw/a.tar.gz -C /srv/raw/rN' < artifact
  deploy     `python -m release -i INV deploy bench --version V --yes --json` (a subprocess: process start
             counts, as for a user), onto empty hosts
  redeploy   the same command again right after `deploy` (same artifact: nothing should be sent)

Each is repeated --repeat times; rounds alternate the order of baseline and release so machine noise
hits both; every host's /srv is emptied (and the page cache flushed to disk) before each round.
Targets (from the issue): deploy <= 1.25x baseline, redeploy <= 0.2x deploy. Missing a target is a
result, not an error: the exit status is 0 unless something broke (1) or the set-up is wrong (2).

Run as root from anywhere:  sudo python bench/deploy_fanout.py [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.project import Project, current_release, ssh_inventory  # noqa: E402
from tests.support.sshd import SshdCluster, SshdHost, start_cluster  # noqa: E402

ENV = "bench"
APP = "oa-portal"
VERSION = "1.0.0"
TARGET_DEPLOY = 1.25  # deploy / baseline
TARGET_REDEPLOY = 0.20  # redeploy / deploy
MTIME = 1_700_000_000  # fixed member mtime: the same bytes every run


class BenchError(RuntimeError):
    """Something broke (not a missed target): exit 1."""


def say(text: str) -> None:
    """Progress on stderr (stdout is for the result)."""
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- artifact


@dataclass
class ArtifactInfo:
    path: Path
    size: int  # bytes of the .tar.gz
    unpacked: int  # sum of file sizes
    files: int
    dirs: int
    build_seconds: float
    mix: dict[str, int]  # unpacked bytes per kind


def _vocabulary(rng: random.Random) -> list[str]:
    keywords = (
        "def class return import from self if else elif for while in not and or None True False "
        "const let var function async await export default this new try except catch finally with "
        "yield lambda raise assert public private static void int string list dict map filter"
    ).split()
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choices(letters, k=rng.randint(2, 11))) for _ in range(4000)}
    camel = {a + b.capitalize() for a, b in zip(rng.sample(sorted(words), 600), rng.sample(sorted(words), 600))}
    return keywords * 20 + sorted(words) + sorted(camel)


def _source_text(rng: random.Random, vocab: list[str], size: int) -> bytes:
    """Code-like text: indented lines of words and punctuation (gzip ~3x, like real sources)."""
    ends = [":", ",", ";", "", "", "()", "(self)", " {", " }", " = []", " += 1", " # TODO"]
    lines, total = [], 0
    while total < size:
        line = "    " * rng.randint(0, 3) + " ".join(rng.choices(vocab, k=rng.randint(2, 12))) + rng.choice(ends)
        lines.append(line)
        total += len(line) + 1
    return ("\n".join(lines) + "\n").encode()[:size]


def _records_text(rng: random.Random, size: int, start: int) -> bytes:
    """Repetitive structured data (fixtures, locale catalogs, source maps): gzip ~10x."""
    out, total, i = [], 0, start
    status = ["active", "inactive", "pending", "archived"]
    while total < size:
        rec = (
            f'{{"id": {i}, "name": "user_{i:06d}", "email": "user_{i:06d}@example.com", '
            f'"status": "{rng.choice(status)}", "score": {rng.randint(0, 9999)}, '
            f'"created": "2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"}},\n'
        )
        out.append(rec)
        total += len(rec)
        i += 1
    return "".join(out).encode()[:size]


def build_artifact(path: Path, target_bytes: int, seed: int) -> ArtifactInfo:
    """A deterministic app tree (binary assets, sources, data) packed until the .tar.gz reaches target_bytes.

    By unpacked bytes the tree is ~35% random binary (images, fonts, .so: incompressible), ~45% code-like
    text and ~20% repetitive records; the packed size is tracked while writing, so it lands on target.
    """
    started = time.perf_counter()
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    made_dirs: set[str] = set()
    mix = {"binary": 0, "source": 0, "records": 0}
    files = unpacked = 0
    record_id = 0
    kinds = [
        # kind, weight (by count), directory choices, extensions, size range
        ("binary", 2, ["static/img", "static/fonts", "lib/native", "vendor/assets"], [".png", ".woff2", ".so", ".jpg"], (8_000, 900_000)),
        ("source", 40, ["src/app", "src/app/api", "src/app/models", "src/app/views", "static/js", "vendor/py", "templates"], [".py", ".js", ".html", ".css"], (1_500, 40_000)),
        ("records", 1, ["data/fixtures", "locale", "static/js/maps"], [".json", ".po", ".map"], (40_000, 600_000)),
    ]
    weights = [k[1] for k in kinds]

    def add(archive: tarfile.TarFile, name: str, data: bytes | None) -> None:
        info = tarfile.TarInfo(name)
        info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "", ""
        if data is None:
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        else:
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))

    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as zipped:
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.GNU_FORMAT) as archive:
            add(archive, "VERSION", f"{VERSION}\n".encode())
            files += 1
            # Stop a little early: the last file and the gzip trailer still have to be flushed.
            while raw.tell() < target_bytes - 250_000:
                kind, _, dirs, exts, (lo, hi) = rng.choices(kinds, weights)[0]
                directory = f"{rng.choice(dirs)}/m{rng.randint(0, 24):02d}"
                parts = directory.split("/")
                for depth in range(1, len(parts) + 1):
                    d = "/".join(parts[:depth])
                    if d not in made_dirs:
                        made_dirs.add(d)
                        add(archive, d, None)
                size = int(lo * (hi / lo) ** rng.random())  # log-uniform: many small, a few large
                if kind == "binary":
                    data = rng.randbytes(size)
                elif kind == "source":
                    data = _source_text(rng, vocab, size)
                else:
                    data = _records_text(rng, size, record_id)
                    record_id += size // 150
                add(archive, f"{directory}/{kind[0]}{files:05d}{rng.choice(exts)}", data)
                mix[kind] += len(data)
                files += 1
                unpacked += len(data)
    return ArtifactInfo(
        path, path.stat().st_size, unpacked, files, len(made_dirs), time.perf_counter() - started, mix
    )


# --------------------------------------------------------------------------- measurements


def ssh_stdin_argv(cluster: SshdCluster, host: SshdHost) -> list[str]:
    """The cluster's ssh command line without -n (which would replace stdin with /dev/null)."""
    argv = cluster.ssh_argv(host)
    if "-n" not in argv:
        raise BenchError(f"expected -n in cluster.ssh_argv: {argv}")
    return [a for a in argv if a != "-n"]


def run_baseline(cluster: SshdCluster, artifact: ArtifactInfo) -> float:
    """All hosts at once: stream the artifact with ssh + cat, then tar xzf; seconds from first start to last end."""
    procs: list[tuple[SshdHost, subprocess.Popen[bytes]]] = []
    streams = [artifact.path.open("rb") for _ in cluster.hosts]
    try:
        started = time.perf_counter()
        for n, (host, stream) in enumerate(zip(cluster.hosts, streams, strict=True), start=1):
            remote = f"mkdir -p /srv/raw/r{n} && cat > /srv/raw/a.tar.gz && tar xzf /srv/raw/a.tar.gz -C /srv/raw/r{n}"
            argv = [*ssh_stdin_argv(cluster, host), remote]
            procs.append((host, subprocess.Popen(argv, stdin=stream, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
        errors = []
        for host, proc in procs:
            _, err = proc.communicate()
            if proc.returncode != 0:
                errors.append(f"{host.name}: exit {proc.returncode}: {err.decode(errors='replace').strip()}")
        elapsed = time.perf_counter() - started
    finally:
        for stream in streams:
            stream.close()
    if errors:
        raise BenchError("baseline failed:\n  " + "\n  ".join(errors))
    for n, host in enumerate(cluster.hosts, start=1):
        got = host.srv / "raw" / "a.tar.gz"
        if not got.is_file() or got.stat().st_size != artifact.size:
            raise BenchError(f"baseline: {host.name} holds {got} of the wrong size")
        if (host.srv / "raw" / f"r{n}" / "VERSION").read_text() != f"{VERSION}\n":
            raise BenchError(f"baseline: {host.name} did not unpack the artifact")
    return elapsed


@dataclass
class DeployRun:
    seconds: float
    release_id: str
    details: list[str]
    log: Path | None
    spawned_at: float  # time.time() just before the process started
    ended_at: float


def run_release(project: Project, cluster: SshdCluster, expect: str, previous: str | None = None) -> DeployRun:
    """`python -m release -i INV deploy ENV --version V --yes --json` as a user runs it; checked afterwards."""
    logs = project.root / ".release" / "logs"
    before = set(logs.glob("*.jsonl")) if logs.is_dir() else set()
    spawned_at = time.time()
    started = time.perf_counter()
    proc = project.spawn("deploy", ENV, "--version", VERSION, "--yes", "--json")
    out, err = proc.communicate()
    elapsed = time.perf_counter() - started
    ended_at = time.time()
    what = "re-deploy" if previous else "deploy"
    if proc.returncode != 0:
        raise BenchError(f"release {what} exited {proc.returncode}:\n{err[-4000:]}")
    try:
        report = json.loads(out)
    except ValueError:
        raise BenchError(f"release {what}: --json output is not JSON:\n{out[-2000:]}\n{err[-2000:]}") from None
    release_id = report.get("release_id", "")
    if report.get("status") != "succeeded" or not release_id:
        raise BenchError(f"release {what}: status {report.get('status')!r}, error {report.get('error')!r}")
    if previous and release_id == previous:
        raise BenchError(f"release {what}: same release id {release_id} as the first deploy (same second?)")
    states = {h["name"]: (h["status"], h["detail"]) for h in report["hosts"]}
    wrong = []
    for host in cluster.hosts:
        status, detail = states.get(host.name, ("missing", ""))
        pointed = current_release(host.srv)
        version = host.srv / "app" / "releases" / release_id / "VERSION"
        if status != "switched" or pointed != release_id or not version.is_file():
            wrong.append(f"{host.name}: status {status}, current -> {pointed}, expected {release_id}")
    if wrong:
        raise BenchError(f"release {what}: hosts not on the new release:\n  " + "\n  ".join(wrong))
    details = sorted({d for _, d in states.values()})
    if details != [expect]:
        say(f"  warning: {what} reported {details}, expected [{expect!r}] on every host")
    new_logs = sorted(set(logs.glob("*.jsonl")) - before)
    return DeployRun(elapsed, release_id, details, new_logs[-1] if new_logs else None, spawned_at, ended_at)


# --------------------------------------------------------------------------- breakdown from the JSON log

_STAMP = re.compile(r"^(\d{8}T\d{6}\d{6})Z-")
_HOST_STEP = re.compile(r"^(h\d+): (.*)$")


def breakdown(run: DeployRun) -> list[tuple[str, float]]:
    """Phases of one release run from its JSON-lines log: (label, seconds); cheap, no instrumentation.

    Tasks run on all hosts at once and wait for the slowest host, so each boundary is the moment the
    LAST host reached it. The log file's name carries the moment logging started (after imports).
    """
    if run.log is None or not run.log.is_file():
        return []
    events: list[tuple[float, str]] = []
    for line in run.log.read_text().splitlines():
        try:
            record = json.loads(line)["record"]
            events.append((float(record["time"]["timestamp"]), str(record["message"])))
        except (ValueError, KeyError, TypeError):
            continue
    marks: list[tuple[str, float | None]] = []
    stamp = _STAMP.match(run.log.name)
    log_start = (
        datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC).timestamp() if stamp else None
    )
    marks.append(("python start, imports, CLI", log_start))

    def last(predicate: Callable[[str], bool]) -> float | None:
        """When the last host logged its first message matching predicate."""
        first: dict[str, float] = {}
        for ts, message in events:
            m = _HOST_STEP.match(message)
            if m and predicate(m.group(2)) and m.group(1) not in first:
                first[m.group(1)] = ts
        return max(first.values()) if first else None

    run_start = next((ts for ts, msg in events if msg.startswith(f"deploy {ENV} ")), None)
    marks.append(("artifact sha256+check, connect, preflight, ledger", run_start))
    marks.append(("upload (facts, prepare, send, stat, mv)", last(lambda s: ": unpack into " in s or ": copy " in s)))
    marks.append(("unpack (tar xzf) / copy same release", last(lambda s: s.startswith("Link shared paths"))))
    marks.append(("link shared, switch current", last(lambda s: s.startswith("on "))))
    marks.append(("cleanup old releases, close, exit", run.ended_at))
    phases, previous = [], run.spawned_at
    pending = ""
    for label, ts in marks:
        if ts is None:  # phase not seen (e.g. nothing uploaded): fold it into the next one
            pending = f"{pending}{label} + " if label else pending
            continue
        phases.append((pending + label, max(0.0, ts - previous)))
        previous, pending = ts, ""
    return phases


def median_phases(runs: list[DeployRun]) -> list[tuple[str, float]]:
    """Per-phase medians over the rounds (phases of the same shape only)."""
    all_phases = [breakdown(r) for r in runs]
    all_phases = [p for p in all_phases if p]
    if not all_phases:
        return []
    labels = [label for label, _ in all_phases[0]]
    same = [p for p in all_phases if [label for label, _ in p] == labels]
    return [(label, statistics.median(p[i][1] for p in same)) for i, label in enumerate(labels)]


# --------------------------------------------------------------------------- driver


@dataclass
class Results:
    baseline: list[float] = field(default_factory=list)
    deploy: list[DeployRun] = field(default_factory=list)
    redeploy: list[DeployRun] = field(default_factory=list)


def clean(cluster: SshdCluster) -> None:
    """Empty every host's /srv and flush dirty pages, so one round's writeback does not slow the next."""
    cluster.wipe_srv()
    os.sync()


def warm_up(cluster: SshdCluster, project: Project) -> None:
    """One ssh login per host and one `release --help` (bytecode compiled): first-touch costs, not deploy costs."""
    for host in cluster.hosts:
        cluster.ssh(host, "true")
    subprocess.run([sys.executable, "-m", "release", "--help"], cwd=project.root, capture_output=True, check=True)


def local_prepare_seconds(artifact: ArtifactInfo, cache: Path) -> float:
    """The deploy's local artifact preparation alone (sha256 + tar member check), in-process."""
    from release.artifact import prepare_artifact

    started = time.perf_counter()
    prepare_artifact(artifact.path, cache)
    return time.perf_counter() - started


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    project = Project(workdir / "project")
    say(f"building a ~{args.size_mb} MB artifact (seed {args.seed}) ...")
    artifact = build_artifact(
        project.root / "artifacts" / f"{APP}-{VERSION}.tar.gz", int(args.size_mb * 1_000_000), args.seed
    )
    say(
        f"  {artifact.size / 1e6:.1f} MB .tar.gz, {artifact.unpacked / 1e6:.1f} MB unpacked in {artifact.files} files "
        f"({artifact.build_seconds:.1f}s to build)"
    )
    say(f"starting {args.hosts} sshd hosts ...")
    cluster = start_cluster(workdir / "sshd", args.hosts)
    try:
        project.write_env(ENV, ssh_inventory(cluster))
        warm_up(cluster, project)
        prepare = local_prepare_seconds(artifact, workdir / "cache")
        results = Results()

        def baseline() -> None:
            clean(cluster)
            results.baseline.append(run_baseline(cluster, artifact))
            say(f"  baseline   {results.baseline[-1]:7.2f} s")

        def release() -> None:
            clean(cluster)
            first = run_release(project, cluster, "uploaded")
            results.deploy.append(first)
            say(f"  deploy     {first.seconds:7.2f} s  ({first.release_id})")
            again = run_release(project, cluster, "artifact already there", previous=first.release_id)
            results.redeploy.append(again)
            say(f"  re-deploy  {again.seconds:7.2f} s  ({again.release_id})")

        for n in range(args.repeat):
            say(f"round {n + 1}/{args.repeat}")
            for step in (baseline, release) if n % 2 == 0 else (release, baseline):
                step()
        clean(cluster)
    finally:
        say("stopping the hosts ...")
        cluster.stop()

    def stats(values: list[float]) -> dict[str, Any]:
        return {"median": statistics.median(values), "min": min(values), "max": max(values), "all": values}

    base, dep, red = stats(results.baseline), stats([r.seconds for r in results.deploy]), stats(
        [r.seconds for r in results.redeploy]
    )
    deploy_ratio = dep["median"] / base["median"]
    redeploy_ratio = red["median"] / dep["median"]
    return {
        "benchmark": "deploy_fanout",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
        "hosts": args.hosts,
        "repeat": args.repeat,
        "artifact": {
            "bytes": artifact.size,
            "unpacked_bytes": artifact.unpacked,
            "files": artifact.files,
            "dirs": artifact.dirs,
            "mix_unpacked_bytes": artifact.mix,
            "seed": args.seed,
        },
        "seconds": {"baseline": base, "deploy": dep, "redeploy": red},
        "local_prepare_seconds": prepare,
        "ratios": {
            "deploy_vs_baseline": {
                "value": deploy_ratio, "target": TARGET_DEPLOY, "pass": deploy_ratio <= TARGET_DEPLOY,
                "paired": [d.seconds / b for d, b in zip(results.deploy, results.baseline, strict=True)],
            },
            "redeploy_vs_deploy": {
                "value": redeploy_ratio, "target": TARGET_REDEPLOY, "pass": redeploy_ratio <= TARGET_REDEPLOY,
                "paired": [r.seconds / d.seconds for r, d in zip(results.redeploy, results.deploy, strict=True)],
            },
        },
        "breakdown_median_seconds": {
            "deploy": [{"phase": p, "seconds": s} for p, s in median_phases(results.deploy)],
            "redeploy": [{"phase": p, "seconds": s} for p, s in median_phases(results.redeploy)],
        },
    }


def render(data: dict[str, Any]) -> str:
    a, s, r = data["artifact"], data["seconds"], data["ratios"]
    lines = [
        f"deploy fan-out: {data['hosts']} hosts, {data['repeat']} round(s), {data['machine']['cpus']} CPUs, {data['date']}",
        f"artifact: {a['bytes'] / 1e6:.1f} MB .tar.gz -> {a['unpacked_bytes'] / 1e6:.1f} MB unpacked "
        f"({a['files']} files, {a['dirs']} dirs)",
        "",
        f"{'':<28}{'median s':>10}{'min s':>9}{'max s':>9}   all",
    ]
    names = {
        "baseline": "baseline (ssh cat + tar)",
        "deploy": "release deploy (first)",
        "redeploy": "release re-deploy (same)",
    }
    for key, label in names.items():
        v = s[key]
        lines.append(
            f"{label:<28}{v['median']:>10.2f}{v['min']:>9.2f}{v['max']:>9.2f}   "
            + " ".join(f"{x:.2f}" for x in v["all"])
        )
    lines.append("")
    for key, text in (("deploy_vs_baseline", "deploy / baseline"), ("redeploy_vs_deploy", "re-deploy / deploy")):
        q = r[key]
        verdict = "PASS" if q["pass"] else "MISS"
        paired = ", ".join(f"{x:.2f}" for x in q["paired"])
        lines.append(f"{text:<20} {q['value']:5.2f}x  target <= {q['target']:.2f}x  {verdict}   (per round: {paired})")
    for kind in ("deploy", "redeploy"):
        phases = data["breakdown_median_seconds"][kind]
        if phases:
            lines += ["", f"{kind} breakdown (median s, from the run's .release/logs/*.jsonl):"]
            lines += [f"  {p['seconds']:7.2f}  {p['phase']}" for p in phases]
    lines.append(f"\nlocal artifact preparation alone (sha256 + tar member scan, in-process): "
                 f"{data['local_prepare_seconds']:.2f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each measurement (default 3)")
    parser.add_argument("--hosts", type=int, default=10, help="sshd hosts (default 10)")
    parser.add_argument("--size-mb", type=float, default=50, help="artifact .tar.gz size in MB (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="artifact content seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (artifact, project, logs)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.hosts < 1:
        parser.error("--repeat and --hosts must be at least 1")
    if os.geteuid() != 0:
        say("needs root (sshd hosts in mount namespaces): sudo python bench/deploy_fanout.py")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="deploy-fanout-"))
    try:
        data = measure(args, workdir)
    except BenchError as exc:
        say(f"BENCHMARK BROKEN: {exc}")
        return 1
    finally:
        if args.keep:
            say(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(data, indent=2) if args.json else render(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
