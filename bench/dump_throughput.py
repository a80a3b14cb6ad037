#!/usr/bin/env python3
"""Benchmark: `release backup run` of a >= 1 GB PostgreSQL database vs. a plain `pg_dump -Fc -f FILE`.

Same server and database, rounds alternating which goes first. Targets (from the issue): plain/release time
>= 1.0 (aim 1.5), release/plain file size <= 1.1, release peak RSS <= 150 MB. A missed target is a result:
exit 0 unless something broke (1) or not root (2). Method and measured figures: bench/dump_throughput.md.

Run as root:  python bench/dump_throughput.py [--size-gb 1.0] [--repeat 3] [--datadir DIR] [--keep] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tests.support

from tests.support import databases as pgs  # noqa: E402
from tests.support.databases import PostgresServer, start_postgres  # noqa: E402
from tests.support.project import Project, local_env  # noqa: E402

ENV, DB, CHUNK = "bench", "benchdb", 100_000  # orders per INSERT round (~90 MB with events and documents)
TARGET_SPEED, AIM_SPEED, TARGET_SIZE, TARGET_RSS_MB = 1.0, 1.5, 1.1, 150.0
# `release` as the user runs it, then the process's OWN peak RSS (RUSAGE_SELF). wait4's ru_maxrss is not that:
# it is the max over the child and every descendant it reaped (pg_dump here), checked empirically.
WRAPPER = """import json, resource, sys
from release.cli import main
code = main(sys.argv[2:])
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = {"cpu": me.ru_utime + me.ru_stime, "kids_cpu": kids.ru_utime + kids.ru_stime}
with open(sys.argv[1], "w") as f:
    json.dump({"maxrss_kib": me.ru_maxrss, **cpu}, f)
sys.exit(code)
"""
ZH = ["请于本周五前提交报销单据。", "会议室预订已确认，请准时参加。", "系统将于今晚十点进行例行维护。",
      "您的请假申请已通过部门经理审批。", "请各部门负责人及时更新项目进度。", "本季度销售额同比增长百分之十二。",
      "新员工入职培训安排在下周一上午。", "合同已归档，如需查阅请联系法务部。"]
EN = ["Please submit the expense report by Friday.", "The meeting room booking has been confirmed.",
      "Scheduled maintenance starts at 22:00 tonight.", "Your leave request was approved by your manager.",
      "Quarterly revenue grew twelve percent year over year.", "The invoice is attached for your records.",
      "Onboarding for new staff begins Monday morning.", "Contact legal if you need a copy of the contract."]
SCHEMA = """
CREATE TABLE orders (id bigint NOT NULL, customer_id int NOT NULL, created_at timestamptz NOT NULL,
    status text NOT NULL, amount numeric(12,2) NOT NULL, note text, meta text, ref text);
CREATE TABLE events (id bigint NOT NULL, order_id bigint NOT NULL, at timestamptz NOT NULL, kind text, payload text);
CREATE TABLE documents (id bigint NOT NULL, title text, body text, digest text, updated_at timestamptz);
"""
INDEXES = """
ALTER TABLE orders ADD PRIMARY KEY (id); ALTER TABLE documents ADD PRIMARY KEY (id);
CREATE INDEX events_order_id ON events (order_id); CREATE INDEX orders_customer ON orders (customer_id, created_at);
"""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def pick(items: list[str]) -> str:
    """SQL: a random element of `items` (a constant array, folded once per statement)."""
    quoted = ",".join("'" + s.replace("'", "''") + "'" for s in items)
    return f"(ARRAY[{quoted}])[1 + floor(random() * {len(items)})::int]"


def chunk_sql(lo: int, hi: int) -> str:
    """Orders lo..hi, three events each, one document per 20: numbers, timestamps, zh/en text, JSON-ish, md5."""
    t0 = "timestamptz '2023-01-01 00:00+08'"
    return f"""
INSERT INTO orders SELECT i, 1 + (random() * 49999)::int, {t0} + i * interval '13 seconds',
  {pick(["new", "paid", "shipped", "done", "refunded"])}, round((random() * 5000)::numeric, 2),
  {pick(ZH)} || ' ' || {pick(EN)},
  format('{{"channel":"%s","items":%s,"coupon":%s,"tags":["%s","%s"]}}', {pick(["web", "app", "wechat", "phone"])},
         1 + (random() * 9)::int, (random() < 0.2)::text, {pick(["vip", "new", "promo", "b2b"])},
         {pick(["cn", "hk", "sg"])}),
  md5(i::text)
FROM generate_series({lo}, {hi}) AS i;
INSERT INTO events SELECT j, j / 3, {t0} + j * interval '4 seconds' + random() * interval '1 minute',
  {pick(["view", "click", "pay", "ship", "comment"])},
  format('{{"session":"%s","ua":"%s","ms":%s,"ok":%s}}', left(md5((j * 31)::text), 16),
         {pick(["Mozilla/5.0 (Windows NT 10.0)", "Mozilla/5.0 (iPhone)", "WeChat/8.0", "okhttp/4.9"])},
         (random() * 900)::int, (random() < 0.97)::text)
FROM generate_series({lo * 3}, {hi * 3 + 2}) AS j;
INSERT INTO documents SELECT i / 20, {pick(ZH)},
  (SELECT string_agg(CASE WHEN random() < 0.5 THEN {pick(ZH)} ELSE {pick(EN)} END, ' ')
   FROM generate_series(1, 4 + i % 12)),
  md5('doc' || i), {t0} + i * interval '13 seconds'
FROM generate_series({lo}, {hi}) AS i WHERE i % 20 = 0;
"""


def psql(server: PostgresServer, sql: str, db: str = DB) -> str:
    """Like server.psql, without its 120 s timeout (a chunk or VACUUM of a 1 GB database may take longer)."""
    argv = [str(server.bindir / "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", server.host]
    argv += ["-p", str(server.port), "-U", server.user, "-d", db, "-c", sql]
    out = subprocess.run(argv, env=server.env(), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"psql failed ({out.returncode}): {sql[:200]}\n{out.stderr}")
    return out.stdout.strip()


def start_server(workdir: Path) -> PostgresServer:
    """A fresh cluster in workdir/data, or (--datadir) the one already there, restarted on a free port."""
    secret = workdir / "bench-password"
    if not (workdir / "data" / "PG_VERSION").exists():
        server = start_postgres(workdir)
        secret.write_text(server.password)
        secret.chmod(0o600)
        return server
    bindir = pgs._pg_bindir()
    assert bindir is not None
    server = PostgresServer("127.0.0.1", pgs._free_port(), "postgres", secret.read_text(), workdir / "data", bindir)
    settings = {**pgs._PG_SETTINGS, "unix_socket_directories": ""}  # TCP only: no socket path length limit
    argv = [str(bindir / "postgres"), "-D", str(server.datadir), "-p", str(server.port)]
    argv += [arg for kv in settings.items() for arg in ("-c", "=".join(kv))]
    log = workdir / "postgres.log"
    with open(log, "ab") as logf:
        server._proc = subprocess.Popen(argv, cwd=workdir, stdout=logf, stderr=logf, **pgs._DAEMON, **pgs._AS_PG)
    probe = [str(bindir / "pg_isready"), "-q", "-h", server.host, "-p", str(server.port)]
    pgs._wait_ready(server._proc, probe, server.env(), log, "postgres")
    return server


def build(server: PostgresServer, want: int) -> dict[str, Any]:
    """Reuse the database if it is big enough; else build it in chunks, index it, VACUUM FREEZE it."""
    started = time.perf_counter()
    size = lambda: int(psql(server, f"SELECT pg_database_size('{DB}')"))  # noqa: E731
    if psql(server, f"SELECT 1 FROM pg_database WHERE datname = '{DB}'", "postgres"):
        if size() >= want:
            return {"db_bytes": size(), "build_s": 0.0, "reused": True}
        psql(server, f"DROP DATABASE {DB}", "postgres")
    server.create_database(DB)
    psql(server, SCHEMA)
    lo = 1
    for goal, then in ((0.85 * want, INDEXES), (want, "VACUUM (FREEZE, ANALYZE)")):
        while (now := size()) < goal:
            say(f"  build: {now / 2**20:,.0f} MiB, inserting orders {lo:,}..{lo + CHUNK - 1:,}")
            psql(server, chunk_sql(lo, lo + CHUNK - 1))
            lo += CHUNK
        psql(server, then)
    return {"db_bytes": size(), "build_s": time.perf_counter() - started, "reused": False, "orders": lo - 1}


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str, Any]:
    """Run argv; seconds, stdout, and wait4's rusage (the child plus the descendants it reaped)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0), err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[:3]}… exit {proc.returncode}:\n{err.read().decode(errors='replace')[-3000:]}")
        return seconds, out.read().decode(), usage


def run_plain(server: PostgresServer, workdir: Path) -> dict[str, Any]:
    target = workdir / "plain.dump"
    argv = [str(server.bindir / "pg_dump"), "-w", "-h", server.host, "-p", str(server.port), "-U", server.user]
    seconds, _, usage = timed([*argv, "-Fc", "-f", str(target), DB], server.env(), workdir)
    size = target.stat().st_size
    target.unlink()
    return {"s": seconds, "bytes": size, "rss_mb": usage.ru_maxrss / 1024, "cpu": usage.ru_utime + usage.ru_stime}


def run_release(project: Project, server: PostgresServer) -> dict[str, Any]:
    shutil.rmtree(project.root / "backups", ignore_errors=True)
    stats = project.root / "rusage.json"
    argv = [sys.executable, "-c", WRAPPER, str(stats), "-i", str(project.inventory), "backup", "run", ENV, "--json"]
    env = {**os.environ, "BENCH_PG_PASSWORD": server.password}
    seconds, stdout, usage = timed(argv, env, project.root)
    backup, own = json.loads(stdout), json.loads(stats.read_text())
    size = (project.root / backup["path"]).stat().st_size
    if size != backup["size"]:
        raise RuntimeError(f"release reported {backup['size']} bytes, the file has {size}")
    shutil.rmtree(project.root / "backups")
    return {"s": seconds, "bytes": size, "rss_mb": own["maxrss_kib"] / 1024, "rss_wait4_mb": usage.ru_maxrss / 1024,
            "cpu": own["cpu"] + own["kids_cpu"], "py_cpu": own["cpu"], "kids_cpu": own["kids_cpu"]}


def report(result: dict[str, Any]) -> None:
    plain, rel = result["plain"], result["release"]
    built = "reused" if result["reused"] else f"built in {result['build_s']:.0f} s"
    print(f"database {DB}: {result['db_bytes'] / 2**30:.2f} GiB (pg_database_size), {built}; {result['repeat']} "
          f"rounds; load average {result['load_start']} at start, {result['load_end']} at end ({os.cpu_count()} cores)")
    print(f"{'':9}{'median s':>10}{'min s':>8}{'file MiB':>10}{'MiB/s*':>8}{'peak RSS MiB':>14}{'CPU s':>8}")
    for name, runs in (("pg_dump", plain), ("release", rel)):
        med = statistics.median(r["s"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        print(f"{name:9}{med:10.1f}{min(r['s'] for r in runs):8.1f}{runs[0]['bytes'] / 2**20:10.1f}"
              f"{result['db_bytes'] / 2**20 / med:8.0f}{max(r['rss_mb'] for r in runs):14.1f}{cpu:8.1f}")
    print("  * database size / median time.  release CPU = python process "
          f"{statistics.median(r['py_cpu'] for r in rel):.1f} s + children (pg_dump, psql) "
          f"{statistics.median(r['kids_cpu'] for r in rel):.1f} s; wait4 maxrss (python or a reaped child): "
          f"{max(r['rss_wait4_mb'] for r in rel):.1f} MiB")
    for line in result["targets"]:
        print(line)


def verdict(plain: list[dict[str, Any]], rel: list[dict[str, Any]]) -> dict[str, Any]:
    """The three figures of the issue (medians; the highest RSS) and one PASS/MISS line per target."""
    speed = statistics.median(r["s"] for r in plain) / statistics.median(r["s"] for r in rel)
    ratio = statistics.median(r["bytes"] for r in rel) / statistics.median(r["bytes"] for r in plain)
    rss = max(r["rss_mb"] for r in rel)
    mark = lambda ok: "PASS" if ok else "MISS"  # noqa: E731
    targets = [
        f"{mark(speed >= TARGET_SPEED)} speed: plain/release time {speed:.2f}x (target >= {TARGET_SPEED}, "
        f"aim {AIM_SPEED}: {'reached' if speed >= AIM_SPEED else 'not reached'})",
        f"{mark(ratio <= TARGET_SIZE)} size: release/plain file {ratio:.3f} (target <= {TARGET_SIZE})",
        f"{mark(rss <= TARGET_RSS_MB)} RSS: release peak {rss:.1f} MiB (target <= {TARGET_RSS_MB:.0f})",
    ]
    return {"speed_ratio": speed, "size_ratio": ratio, "release_peak_rss_mb": rss, "targets": targets}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0, help="minimum pg_database_size in GiB (default 1.0)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each dump (default 3)")
    parser.add_argument("--datadir", type=Path, help="work dir of the cluster, reused if built (removed unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (and its database) at the end")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if os.geteuid() != 0:
        say("run as root (postgres is started as the postgres user)")
        return 2
    load_start = loadavg()
    workdir = args.datadir.resolve() if args.datadir else Path(tempfile.mkdtemp(prefix="bench-dump-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    server = None
    try:
        server = start_server(workdir)
        say(f"postgres on {server.host}:{server.port}, work dir {workdir}")
        info = build(server, int(args.size_gb * 2**30))
        say(f"database: {info['db_bytes'] / 2**30:.2f} GiB, build {info['build_s']:.0f} s")
        project = Project(workdir / "project")
        shutil.rmtree(project.root, ignore_errors=True)
        database = {"engine": "postgresql", "host": server.host, "port": server.port, "name": DB,
                    "user": server.user, "password": "${BENCH_PG_PASSWORD}"}
        project.write_env(ENV, local_env(project.root, database=database))
        runs: dict[str, list[dict[str, Any]]] = {"plain": [], "release": []}
        for n in range(args.repeat):  # alternate who goes first: drift in machine load hits both
            for name in ("plain", "release") if n % 2 == 0 else ("release", "plain"):
                run = run_plain(server, workdir) if name == "plain" else run_release(project, server)
                runs[name].append({**run, "load1": os.getloadavg()[0]})
                say(f"  round {n + 1} {name:7}: {run['s']:6.1f} s  {run['bytes'] / 2**20:7.1f} MiB  "
                    f"RSS {run['rss_mb']:.1f} MiB  load {os.getloadavg()[0]:.2f}")
        result = {**info, "repeat": args.repeat, "load_start": load_start, "load_end": loadavg(), **runs,
                  **verdict(runs["plain"], runs["release"])}
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            report(result)
        return 0
    except (RuntimeError, OSError, KeyError, ValueError) as exc:
        say(f"benchmark broke: {exc}")
        return 1
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            say(f"kept {workdir} (reuse with --datadir {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
