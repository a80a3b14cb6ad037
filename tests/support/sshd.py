"""Real OpenSSH "hosts" on loopback for integration tests.

Each host is an `sshd -D` listening on its own 127.0.0.N address and port. It runs in its own
mount (and UTS) namespace with a private directory bind-mounted at /srv, so several hosts on
one machine each have their own /srv, as real servers would. The sshd is our direct child
(unshare and sh exec into it), so we can stop it by PID and reap it ourselves: no zombie
left behind for a slow PID 1, and we never signal anything we did not start.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import DEVNULL

from tests.support.fs import make_traversable

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])

# Why: the namespace needs /srv as a mount point; positional args avoid shell quoting.
_UNSHARE = ["unshare", "--mount", "--uts", "--propagation", "private"]
_LAUNCH = 'hostname "$1" && mount --bind "$2" /srv && exec "$3" -D -f "$4" -E "$5"'

_SSHD_CONFIG = """\
Port {port}
ListenAddress {address}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {keys}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 200
MaxSessions 100
Subsystem sftp internal-sftp
"""


def _sshd_binary() -> str | None:
    return shutil.which("sshd", path=_SBIN_PATH)


def ensure_sshd_installed() -> None:
    """Install openssh-server when missing and root (CI runs on fresh machines); else explain."""
    if _sshd_binary() and shutil.which("ssh") and shutil.which("ssh-keygen"):
        return
    if os.geteuid() != 0:
        raise RuntimeError(
            "OpenSSH server/client not found: install the Debian package "
            "'openssh-server' (apt-get install -y openssh-server), or run as root"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "openssh-server"]
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(cmd, env=env, check=True)
    if not _sshd_binary():
        raise RuntimeError("apt-get installed openssh-server but sshd is still not found")


def _keygen(path: Path, comment: str) -> str:
    """Generate an unencrypted ed25519 key (mode 0600) and return 'ssh-ed25519 AAAA...'."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=DEVNULL,
        capture_output=True,
    )
    kind, blob = path.with_name(path.name + ".pub").read_text().split()[:2]
    return f"{kind} {blob}"


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def _is_gone(pid: int) -> bool:
    """True when the PID no longer runs; a zombie counts as gone (PID 1 reaps slowly here).
    Reads the state that `ps -o stat=` shows, without a subprocess per PID."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _mount_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _namespace_members(ns: str) -> list[int]:
    """Live PIDs in a host's mount namespace: its sshd, sessions and anything they spawned,
    even daemonized; exactly the processes that a real host going down would take along."""
    pids = [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()]
    return [pid for pid in pids if _mount_ns(pid) == ns and not _is_gone(pid)]


@dataclass
class SshdHost:
    """One sshd "host": own address, port, host key and private /srv."""

    name: str
    address: str
    port: int
    srv: Path
    pid: int = 0
    workdir: Path = field(default=Path(), repr=False)
    authorized_keys: Path = field(default=Path(), repr=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    _ns: str | None = field(default=None, repr=False, compare=False)

    @property
    def config(self) -> Path:
        return self.workdir / "sshd_config"

    @property
    def log(self) -> Path:
        return self.workdir / "sshd.log"

    @property
    def host_key(self) -> Path:
        return self.workdir / "ssh_host_ed25519_key"

    def write_config(self) -> None:
        pid_file, keys = self.workdir / "sshd.pid", self.authorized_keys
        text = _SSHD_CONFIG.format(**vars(self), host_key=self.host_key, pid_file=pid_file, keys=keys)
        self.config.write_text(text)

    def start(self) -> None:
        """(Re)start with the same config, key and port, so known_hosts stays valid."""
        if self._proc is not None and self._proc.poll() is None:
            return
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation dir
        sshd = _sshd_binary()
        if sshd is None:
            raise RuntimeError("sshd not found: call ensure_sshd_installed() first")
        argv = [*_UNSHARE, "sh", "-c", _LAUNCH, "sh", self.name, str(self.srv), sshd]
        argv += [str(self.config), str(self.log)]
        # stderr to a file, not a pipe: nobody drains a pipe while the host runs.
        with open(self.workdir / "launch.err", "wb") as err:
            self._proc = subprocess.Popen(argv, stdin=DEVNULL, stdout=DEVNULL, stderr=err, start_new_session=True)
        self.pid = self._proc.pid  # unshare and sh exec, so this is the sshd itself
        self._wait_listening()
        # Listening implies sh already ran unshare; never adopt our own namespace.
        ns = _mount_ns(self.pid)
        if ns is None or ns == _mount_ns(os.getpid()):
            self.stop()
            raise RuntimeError(f"sshd {self.name} is not in a mount namespace of its own")
        self._ns = ns

    def _wait_listening(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code, self._proc = self._proc.returncode, None
                raise SshdStartError(f"sshd {self.name} exited with {code}:\n{self._read_log()}")
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(
            f"sshd {self.name} not listening on {self.address}:{self.port} after {START_TIMEOUT}s:\n{self._read_log()}"
        )

    def _read_log(self) -> str:
        logs = [p for p in (self.workdir / "launch.err", self.log) if p.exists()]
        return "".join(p.read_text(errors="replace") for p in logs) or "(no sshd log)"

    def stop(self) -> None:
        """Stop the host: its sshd and every process started inside it (sessions included)."""
        proc, self._proc, ns, self._ns = self._proc, None, self._ns, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while ns is not None and (left := _namespace_members(ns)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"host {self.name}: processes {left} did not go away")
            for pid in left:  # reparented to PID 1 once our sshd exited
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)


# Strict, non-interactive, and blind to the user's ~/.ssh: only the cluster's files count.
_SSH_OPTS = ["BatchMode=yes", "IdentitiesOnly=yes", "StrictHostKeyChecking=yes", "UpdateHostKeys=no"]
_SSH_OPTS += ["GlobalKnownHostsFile=/dev/null", "ConnectTimeout=10", "LogLevel=ERROR"]


class SshdStartError(RuntimeError):
    """sshd exited during start (e.g. its port was taken meanwhile: start_cluster retries)."""


class SshCommandError(subprocess.CalledProcessError):
    """CalledProcessError whose message includes the remote stderr (why a test failed)."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


@dataclass
class SshdCluster:
    """A set of hosts sharing one client key and one known_hosts file."""

    workdir: Path
    hosts: list[SshdHost]
    user: str
    identity_file: Path
    known_hosts: Path

    def ssh_argv(self, host: SshdHost) -> list[str]:
        """OpenSSH client argv that ignores the user's ~/.ssh config and trusts only known_hosts."""
        opts = [*_SSH_OPTS, f"UserKnownHostsFile={self.known_hosts}"]
        argv = ["ssh", "-n", "-F", "/dev/null", "-i", str(self.identity_file), "-p", str(host.port)]
        return [*argv, *[a for o in opts for a in ("-o", o)], f"{self.user}@{host.address}"]

    def ssh(
        self, host: SshdHost, command: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command on the host; on failure with check, raise with its stderr."""
        argv = [*self.ssh_argv(host), command]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=DEVNULL)
        if check and result.returncode != 0:
            raise SshCommandError(result.returncode, argv, result.stdout, result.stderr)
        return result

    def stop(self) -> None:
        """Stop every host (idempotent; also registered with atexit as a safety net)."""
        errors = []
        for host in self.hosts:
            try:
                host.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        if errors:
            raise errors[0]

    def wipe_srv(self) -> None:
        """Empty each host's /srv but keep the directory: it is the bind-mount source."""
        for host in self.hosts:
            for entry in host.srv.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, onerror=_force_remove)
                else:
                    entry.unlink()


def _force_remove(func: Callable[[str], object], path: str, _exc_info: object) -> None:
    """rmtree helper: tests may leave read-only dirs behind; make them writable and retry."""
    parent = os.path.dirname(path)
    os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, os.stat(path).st_mode | stat.S_IRWXU)
    func(path)


def _start_host(host: SshdHost, attempts: int = 3) -> None:
    """Start a host; if its port was grabbed since we probed it, move to a fresh port."""
    for attempt in range(attempts):
        host.write_config()
        try:
            host.start()
            return
        except SshdStartError as exc:
            if "Address already in use" not in str(exc) or attempt == attempts - 1:
                raise
            host.port = _free_port(host.address)


TEST_USER = "release-test"


def ensure_user(name: str) -> None:
    """A plain login user for the hosts (a clean shell start-up, unlike this machine's root).

    Why: root's ~/.bashrc here runs `pyenv init`, which adds ~0.15 s to every ssh command; real
    deploy users have plain shells, and deploying as non-root is what production does anyway.
    """
    if subprocess.run(["id", "-u", name], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
    subprocess.run(["usermod", "-p", "*", name], check=True)  # unlocked for key login with UsePAM no


def start_cluster(workdir: Path, count: int, first_address: int = 2, user: str = TEST_USER) -> SshdCluster:
    """Start `count` hosts h1..hN on 127.0.0.{first_address}.. in parallel; stop all on error.

    Every host's /srv belongs to `user`, the account tests log in as.
    """
    if os.geteuid() != 0:
        raise RuntimeError("start_cluster needs root (mount namespaces, sshd as root)")
    if not 1 <= count <= 250 or first_address < 1 or first_address + count > 255:
        raise ValueError(f"cannot place {count} hosts from 127.0.0.{first_address}")
    ensure_sshd_installed()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    Path("/srv").mkdir(exist_ok=True)  # mount point inside each namespace
    if user != "root":
        ensure_user(user)
    authorized = workdir / "authorized_keys"
    hosts = []
    for i in range(1, count + 1):
        address = f"127.0.0.{first_address + i - 1}"
        host_dir = workdir / f"h{i}"
        (host_dir / "srv").mkdir(parents=True)
        shutil.chown(host_dir / "srv", user, user)
        port = _free_port(address)
        hosts.append(SshdHost(f"h{i}", address, port, host_dir / "srv", 0, host_dir, authorized))
    cluster = SshdCluster(workdir, hosts, user, workdir / "id_ed25519", workdir / "known_hosts")
    try:
        with ThreadPoolExecutor(max_workers=min(count + 1, 16)) as pool:
            client_key = pool.submit(_keygen, cluster.identity_file, "release-tests")
            host_keys = list(pool.map(lambda h: _keygen(h.host_key, h.name), hosts))
            authorized.write_text(client_key.result() + "\n")
            authorized.chmod(0o644)
            make_traversable(workdir)
            for future in [pool.submit(_start_host, h) for h in hosts]:
                future.result()
    except BaseException:
        cluster.stop()
        raise
    lines = [f"[{h.address}]:{h.port} {key}\n" for h, key in zip(hosts, host_keys, strict=True)]
    cluster.known_hosts.write_text("".join(lines))
    atexit.register(cluster.stop)
    return cluster


def other_host_key_line(host: SshdHost) -> str:
    """A known_hosts line for the host with a different, fresh key (to test a changed key)."""
    with tempfile.TemporaryDirectory() as tmp:
        key = _keygen(Path(tmp) / "key", "impostor")
    return f"[{host.address}]:{host.port} {key}"
