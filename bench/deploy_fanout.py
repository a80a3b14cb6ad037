#!/usr/bin/env python3
"""Benchmark: `release deploy` of a ~50 MB artifact to 10 sshd hosts vs. a raw parallel ssh baseline.

Measured in the same run, on the same hosts, with the same artifact file:

  baseline   all hosts at once, one ssh process each, stdin from the artifact:
             ssh HOST 'mkdir -p /srv/raw/rN && cat > /srv/raw/a.tar.gz && tar xzf /srv/raw/a.tar.gz -C /srv/raw/rN'
  deploy     `python -m release -i INV deploy bench --version V --yes --json` (a subprocess: process start
             counts, as for a user), onto empty hosts
  redeploy   the same command again right after `deploy` (same artifact: nothing should be sent)

Each is repeated --repeat times; rounds alternate the order of baseline and release so machine noise
hits both; before each measurement every host's /srv is emptied (moved aside: see --clear), dirty pages
are flushed and the machine is given a moment to go idle; CPU used by other processes is reported.
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
    keywords = [
        "def",
        "class",
        "return",
        "import",
        "from",
        "self",
        "if",
        "else",
        "elif",
        "for",
        "while",
        "in",
        "not",
        "and",
        "or",
        "None",
        "True",
        "False",
        "const",
        "let",
        "var",
        "function",
        "async",
        "await",
        "export",
        "default",
        "this",
        "new",
        "try",
        "except",
        "catch",
        "finally",
        "with",
        "yield",
        "lambda",
        "raise",
        "assert",
        "public",
        "private",
        "static",
        "void",
        "int",
        "string",
        "list",
        "dict",
        "map",
        "filter",
    ]
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choices(letters, k=rng.randint(2, 11))) for _ in range(4000)}
    camel = {
        a + b.capitalize() for a, b in zip(rng.sample(sorted(words), 600), rng.sample(sorted(words), 600), strict=True)
    }
    return keywords + sorted(words) + sorted(camel)


_ZIPF: dict[int, list[float]] = {}


def _zipf_weights(n: int) -> list[float]:
    """Cumulative 1/rank weights: a few words are everywhere, most are rare (as in real code)."""
    if n not in _ZIPF:
        total, cum = 0.0, []
        for rank in range(1, n + 1):
            total += 1 / rank
            cum.append(total)
        _ZIPF[n] = cum
    return _ZIPF[n]


def _source_text(rng: random.Random, vocab: list[str], size: int) -> bytes:
    """Code-like text: indented lines of words and punctuation (gzip ~3x, like real sources)."""
    ends = [":", ",", ";", "", "", "()", "(self)", " {", " }", " = []", " += 1", " # TODO"]
    cum = _zipf_weights(len(vocab))
    lines, total = [], 0
    while total < size:
        words = rng.choices(vocab, cum_weights=cum, k=rng.randint(2, 12))
        line = "    " * rng.randint(0, 3) + " ".join(words) + rng.choice(ends)
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
        (
            "binary",
            2,
            ["static/img", "static/fonts", "lib/native", "vendor/assets"],
            [".png", ".woff2", ".so", ".jpg"],
            (8_000, 900_000),
        ),
        (
            "source",
            40,
            ["src/app", "src/app/api", "src/app/models", "src/app/views", "static/js", "vendor/py", "templates"],
            [".py", ".js", ".html", ".css"],
            (1_500, 40_000),
        ),
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

    with (
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.GNU_FORMAT) as archive,
    ):
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
    return ArtifactInfo(path, path.stat().st_size, unpacked, files, len(made_dirs), time.perf_counter() - started, mix)


# --------------------------------------------------------------------------- machine load

_TICK = os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy (not idle, not iowait) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / _TICK


def _processes() -> dict[int, tuple[int, str, float, float]]:
    """pid -> (ppid, mount namespace, start time in ticks, CPU seconds incl. reaped children)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            ns = os.readlink(entry / "ns" / "mnt")
        except OSError:
            continue
        cpu = sum(int(v) for v in fields[11:15]) / _TICK  # utime stime cutime cstime
        table[int(entry.name)] = (int(fields[1]), ns, float(fields[19]), cpu)
    return table


def _others(table: dict[int, tuple[int, str, float, float]], host_ns: set[str]) -> dict[tuple[int, float], float]:
    """CPU seconds of the processes that are not this benchmark's.

    Left out: our descendants, anything inside a host's mount namespace, PID 1 (it reaps orphans, ours
    too) and kernel threads (softirq and writeback work for our own traffic and files lands there).
    """
    me, ours = os.getpid(), {os.getpid()}
    result = {}
    for pid, (ppid, ns, started, cpu) in table.items():
        if pid == me:
            continue
        chain, parent = [pid], ppid
        while parent > 2 and parent not in ours and parent in table and len(chain) < 64:
            chain.append(parent)
            parent = table[parent][0]
        if parent == me or parent in ours:
            ours.update(chain)
        elif ns not in host_ns and pid > 2 and ppid != 2:
            result[(pid, started)] = cpu
    return result


class LoadMeter:
    """CPU used by other processes (other users' tests, kernel threads) while a measurement runs.

    Sums the CPU time (own and reaped children's) of every process outside this benchmark's process
    tree and outside the hosts' namespaces, between the start and the end of the measurement.
    """

    def __init__(self, cluster: SshdCluster) -> None:
        self.host_ns = {ns for h in cluster.hosts if (ns := _mount_ns(h.pid))}

    def __enter__(self) -> LoadMeter:
        self.before = _others(_processes(), self.host_ns)
        self.machine = _machine_busy()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.started
        machine = _machine_busy() - self.machine
        after = _others(_processes(), self.host_ns)
        # Difference of the sums, not per process: a process that ended meanwhile drops out with its
        # earlier total, and its final total reappears in its parent's reaped-children time.
        other = max(0.0, sum(after.values()) - sum(self.before.values()))
        self.other_cores = other / wall if wall > 0 else 0.0
        self.own_cpu = max(0.0, machine - other)  # CPU seconds of the measurement itself (clients, hosts, kernel)


def _mount_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def settle(limit: float, threshold: float = 0.3) -> float:
    """Wait (up to `limit` s) for a second in which the machine is nearly idle; return the last busy level (cores)."""
    deadline = time.monotonic() + limit
    while True:
        before, started = _machine_busy(), time.perf_counter()
        time.sleep(1.0)
        busy = (_machine_busy() - before) / (time.perf_counter() - started)
        if busy < threshold or time.monotonic() > deadline:
            return busy


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
            procs.append(
                (host, subprocess.Popen(argv, stdin=stream, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
            )
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
    log_start = datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC).timestamp() if stamp else None
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
    marks.append(("upload (facts; one ssh: prepare, send, size check, mv)", last(lambda s: ": unpack into " in s)))
    marks.append(("unpack (tar xzf) / hard-link same release", last(lambda s: s.startswith("Link shared paths"))))
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
class Sample:
    seconds: float
    other_cores: float  # average CPU used by other processes meanwhile
    idle_before: float  # machine busy level (cores) in the second before it started
    cpu: float  # CPU seconds the measurement itself used (machine total minus other processes)
    run: DeployRun | None = None


@dataclass
class Results:
    baseline: list[Sample] = field(default_factory=list)
    deploy: list[Sample] = field(default_factory=list)
    redeploy: list[Sample] = field(default_factory=list)


@dataclass
class Clearer:
    """Empties every host's /srv between measurements.

    `aside` (default) renames the entries into a directory outside /srv (same filesystem, instant) and
    deletes them all at the end. `wipe` deletes them at once (cluster.wipe_srv) and then waits
    `cooldown` seconds: on this VM (ext4 mounted with `discard`) writes right after deleting a few GB
    cost 2-3x the CPU for tens of seconds, which would slow whichever measurement comes next.
    """

    cluster: SshdCluster
    mode: str
    aside: Path
    cooldown: float
    count: int = 0

    def __call__(self) -> None:
        if self.mode == "wipe":
            self.cluster.wipe_srv()
            os.sync()
            time.sleep(self.cooldown)
            return
        self.aside.mkdir(exist_ok=True)
        for host in self.cluster.hosts:
            for entry in host.srv.iterdir():
                self.count += 1
                os.rename(entry, self.aside / f"{host.name}-{self.count}")


def warm_up(cluster: SshdCluster, project: Project) -> None:
    """One ssh login per host, the package's bytecode and one `release --help`: first-touch costs, not deploy costs.

    An installed package has its bytecode (pip compiles it); a checkout run with PYTHONDONTWRITEBYTECODE=1
    (as on the CI machines) would compile the package again in every run, ~0.3 s of CPU.
    """
    for host in cluster.hosts:
        cluster.ssh(host, "true")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "release")], check=True)
    subprocess.run([sys.executable, "-m", "release", "--help"], cwd=project.root, capture_output=True, check=True)


def local_prepare_seconds(artifact: ArtifactInfo, cache: Path) -> float:
    """The deploy's local artifact preparation alone (sha256 + tar member check), in-process."""
    from release.artifact import prepare_artifact

    started = time.perf_counter()
    prepare_artifact(artifact.path, cache)
    return time.perf_counter() - started


def stats(samples: list[Sample]) -> dict[str, Any]:
    values = [s.seconds for s in samples]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "all": values,
        "other_load_cores": [round(s.other_cores, 2) for s in samples],
        "busy_before_cores": [round(s.idle_before, 2) for s in samples],
        "cpu_seconds": [round(s.cpu, 2) for s in samples],
        "cpu_seconds_median": round(statistics.median(s.cpu for s in samples), 2),
    }


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    project = Project(workdir / "project")
    say(f"building a ~{args.size_mb:g} MB artifact (seed {args.seed}) ...")
    artifact = build_artifact(
        project.root / "artifacts" / f"{APP}-{VERSION}.tar.gz", int(args.size_mb * 1_000_000), args.seed
    )
    say(
        f"  {artifact.size / 1e6:.1f} MB .tar.gz, {artifact.unpacked / 1e6:.1f} MB unpacked in {artifact.files} files "
        f"({artifact.build_seconds:.1f}s to build)"
    )
    if args.clear == "aside":
        need = args.repeat * args.hosts * (2 * artifact.size + 3 * artifact.unpacked) * 1.2
        free = shutil.disk_usage(workdir).free
        if free < need:
            raise BenchError(
                f"--clear aside keeps every round's files until the end: needs ~{need / 1e9:.1f} GB, "
                f"{free / 1e9:.1f} GB free in {workdir}; use fewer --repeat or --clear wipe"
            )
    say(f"starting {args.hosts} sshd hosts ...")
    cluster = start_cluster(workdir / "sshd", args.hosts)
    try:
        project.write_env(ENV, ssh_inventory(cluster))
        warm_up(cluster, project)
        prepare = local_prepare_seconds(artifact, workdir / "cache")
        clean = Clearer(cluster, args.clear, workdir / "aside", args.cooldown)
        results = Results()

        def timed(call: Callable[[], Any]) -> tuple[Any, float, float, float]:
            os.sync()  # no dirty pages of an earlier measurement left to write back during this one
            busy = settle(args.settle)
            with LoadMeter(cluster) as meter:
                value = call()
            return value, meter.other_cores, busy, meter.own_cpu

        def note(label: str, sample: Sample, extra: str = "") -> None:
            flag = "  (busy machine)" if sample.other_cores > NOISY else ""
            say(
                f"  {label:<10}{sample.seconds:7.2f} s  cpu {sample.cpu:6.1f} s  "
                f"other load {sample.other_cores:.2f} cores{flag}{extra}"
            )

        def baseline() -> None:
            clean()
            seconds, other, busy, cpu = timed(lambda: run_baseline(cluster, artifact))
            results.baseline.append(Sample(seconds, other, busy, cpu))
            note("baseline", results.baseline[-1])

        def release() -> None:
            clean()
            first, other, busy, cpu = timed(lambda: run_release(project, cluster, "uploaded"))
            results.deploy.append(Sample(first.seconds, other, busy, cpu, first))
            note("deploy", results.deploy[-1], f"  {first.release_id}")
            again, other, busy, cpu = timed(
                lambda: run_release(project, cluster, "artifact already there", previous=first.release_id)
            )
            results.redeploy.append(Sample(again.seconds, other, busy, cpu, again))
            note("re-deploy", results.redeploy[-1], f"  {again.release_id}")

        for n in range(args.repeat):
            say(f"round {n + 1}/{args.repeat}")
            for step in (baseline, release) if n % 2 == 0 else (release, baseline):
                step()
    finally:
        say("stopping the hosts ...")
        cluster.stop()

    base, dep, red = stats(results.baseline), stats(results.deploy), stats(results.redeploy)
    deploy_ratio = dep["median"] / base["median"]
    redeploy_ratio = red["median"] / dep["median"]
    noisy = [s.other_cores for s in results.baseline + results.deploy + results.redeploy]
    return {
        "benchmark": "deploy_fanout",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
        "hosts": args.hosts,
        "repeat": args.repeat,
        "clear": args.clear if args.clear == "aside" else f"wipe, {args.cooldown:g} s cooldown",
        "artifact": {
            "bytes": artifact.size,
            "unpacked_bytes": artifact.unpacked,
            "files": artifact.files,
            "dirs": artifact.dirs,
            "mix_unpacked_bytes": artifact.mix,
            "seed": args.seed,
        },
        "seconds": {"baseline": base, "deploy": dep, "redeploy": red},
        "noisy_measurements": sum(1 for x in noisy if x > NOISY),
        "local_prepare_seconds": prepare,
        "ratios": {
            "deploy_vs_baseline": {
                "value": deploy_ratio,
                "target": TARGET_DEPLOY,
                "pass": deploy_ratio <= TARGET_DEPLOY,
                "per_round": [d.seconds / b.seconds for d, b in zip(results.deploy, results.baseline, strict=True)],
            },
            "redeploy_vs_deploy": {
                "value": redeploy_ratio,
                "target": TARGET_REDEPLOY,
                "pass": redeploy_ratio <= TARGET_REDEPLOY,
                "per_round": [r.seconds / d.seconds for r, d in zip(results.redeploy, results.deploy, strict=True)],
            },
        },
        "breakdown_median_seconds": {
            kind: [
                {"phase": p, "seconds": round(sec, 3)} for p, sec in median_phases([s.run for s in samples if s.run])
            ]
            for kind, samples in (("deploy", results.deploy), ("redeploy", results.redeploy))
        },
    }


NOISY = 0.25  # cores used by other processes during a measurement above which it is flagged


def render(data: dict[str, Any]) -> str:
    """The human summary: a table, one line per ratio with PASS/MISS, the breakdowns."""
    a, s, r = data["artifact"], data["seconds"], data["ratios"]
    lines = [
        f"deploy fan-out: {data['hosts']} hosts, {data['repeat']} round(s), "
        f"{data['machine']['cpus']} CPUs, {data['date']}",
        f"artifact: {a['bytes'] / 1e6:.1f} MB .tar.gz -> {a['unpacked_bytes'] / 1e6:.1f} MB unpacked "
        f"({a['files']} files, {a['dirs']} dirs)",
        "",
        f"{'':<28}{'median s':>10}{'min s':>9}{'max s':>9}{'cpu s':>8}   each round: s (other load, cores)",
    ]
    names = {
        "baseline": "baseline (ssh cat + tar)",
        "deploy": "release deploy (first)",
        "redeploy": "release re-deploy (same)",
    }
    for key, label in names.items():
        v = s[key]
        each = "  ".join(f"{x:.2f} ({o:.2f})" for x, o in zip(v["all"], v["other_load_cores"], strict=True))
        lines.append(
            f"{label:<28}{v['median']:>10.2f}{v['min']:>9.2f}{v['max']:>9.2f}{v['cpu_seconds_median']:>8.1f}   {each}"
        )
    lines.append("")
    for key, text in (("deploy_vs_baseline", "deploy / baseline"), ("redeploy_vs_deploy", "re-deploy / deploy")):
        q = r[key]
        verdict = "PASS" if q["pass"] else "MISS"
        per_round = ", ".join(f"{x:.2f}" for x in q["per_round"])
        lines.append(
            f"{text:<19} {q['value']:6.3f}x   target <= {q['target']:.2f}x   {verdict}   (per round: {per_round})"
        )
    if data["noisy_measurements"]:
        lines.append(
            f"note: {data['noisy_measurements']} measurement(s) ran while other processes used > {NOISY} cores "
            "(see 'other load'): figures are less reliable"
        )
    for kind in ("deploy", "redeploy"):
        phases = data["breakdown_median_seconds"][kind]
        if phases:
            lines += ["", f"{kind} breakdown (median s; from the run's .release/logs/*.jsonl, last host at each step):"]
            lines += [f"  {p['seconds']:7.2f}  {p['phase']}" for p in phases]
    lines.append(
        "\nlocal artifact preparation alone (sha256 + tar member scan, in-process): "
        f"{data['local_prepare_seconds']:.2f} s"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each measurement (default 3)")
    parser.add_argument("--hosts", type=int, default=10, help="sshd hosts (default 10)")
    parser.add_argument("--size-mb", type=float, default=50, help="artifact .tar.gz size in MB (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="artifact content seed (default 1)")
    parser.add_argument(
        "--settle",
        type=float,
        default=20,
        help="before each measurement, wait up to this many seconds for a nearly idle second (default 20)",
    )
    parser.add_argument(
        "--clear",
        choices=["aside", "wipe"],
        default="aside",
        help="between measurements, move /srv contents aside (default; deleted at the end) or delete them",
    )
    parser.add_argument(
        "--cooldown", type=float, default=60, help="with --clear wipe: seconds to wait after deleting (default 60)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (artifact, project, logs)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.hosts < 1 or args.size_mb <= 0:
        parser.error("--repeat, --hosts and --size-mb must be positive")
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
            say("removing the work directory ...")
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(data, indent=2) if args.json else render(data), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
