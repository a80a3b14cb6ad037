"""The offline bundle (issue 11 §3): how a controller in the customer's intranet, with no internet, gets release.

scripts/bundle.sh builds release-offline-<version>.tar.gz once for this module (its wheel cache lives
under pytest's cache, so re-runs download nothing; a fresh machine fetches everything). The tarball must
hold a glibc 2.17 (manylinux2014) wheel of every dependency with compiled code for x86_64 and aarch64,
CPython 3.11 and 3.12: a controller of either kind, with either Python, installs without a compiler or
an index. Then it is installed as a customer would, `tar -x` and `bash install.sh`, in a network
namespace with no network and pip pointed at nothing, and the installed `release` runs a real deploy and
rollback of the embedded demo from a copy outside the checkout, with the playbooks packaged in the wheel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tomllib
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PYTHONS = ("3.11", "3.12")
ARCHS = ("x86_64", "aarch64")
GLIBC_MAX = (2, 17)
LEGACY_MANYLINUX = {"1": (2, 5), "2010": (2, 12), "2014": (2, 17)}
# compiled today; listed so that the per-target check below can never pass on an empty set
KNOWN_COMPILED = {"pydantic_core", "zstandard", "cryptography", "bcrypt", "pyyaml", "markupsafe"}


@dataclass(frozen=True)
class Wheel:
    """A wheel file name, split into its parts (PEP 427; the tags may be dotted sets)."""

    filename: str
    name: str
    version: str
    pythons: frozenset[str]
    abis: frozenset[str]
    platforms: frozenset[str]

    @classmethod
    def parse(cls, filename: str) -> Wheel:
        parts = filename.removesuffix(".whl").split("-")
        name, version, py, abi, plat = parts[0], parts[1], parts[-3], parts[-2], parts[-1]
        return cls(filename, canonical(name), version, _tags(py), _tags(abi), _tags(plat))

    @property
    def compiled(self) -> bool:
        return self.platforms != {"any"}

    def installs_on(self, python: str, arch: str) -> bool:
        """Whether pip on CPython `python`, Linux `arch` with glibc 2.17 would take this wheel."""
        if not self.compiled:
            return any(py in ("py3", f"cp{python.replace('.', '')}") for py in self.pythons)
        minor = int(python.split(".")[1])
        cp = f"cp3{minor}"
        abi_ok = cp in self.abis and cp in self.pythons
        abi3_ok = "abi3" in self.abis and any(_cp_minor(py) <= minor for py in self.pythons if py.startswith("cp3"))
        return (abi_ok or abi3_ok) and any(_glibc_ok(plat, arch) for plat in self.platforms)


def _tags(tag: str) -> frozenset[str]:
    return frozenset(tag.split("."))


def _cp_minor(py: str) -> int:
    return int(py.removeprefix("cp3"))


def _glibc_ok(platform: str, arch: str) -> bool:
    match = re.fullmatch(rf"manylinux(?:_(\d+)_(\d+)|(1|2010|2014))_{arch}", platform)
    if not match:
        return False
    glibc = (int(match[1]), int(match[2])) if match[1] else LEGACY_MANYLINUX[match[3]]
    return glibc <= GLIBC_MAX


def canonical(name: str) -> str:
    """A distribution name as wheel file names spell it (PEP 503 normalised, `_` for runs of -_.)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def run(cmd: list[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without pip's settings or a venv of the checkout, plus `extra`.

    This machine sets PIP_FIND_LINKS (a local wheel dir): left in, it could stand in for a missing wheel.
    """
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k not in drop}
    return env | extra


def offline(cmd: list[str]) -> list[str]:
    """`cmd` in a new network namespace: no interface but a loopback that is down, so no network at all."""
    return ["unshare", "--net", *([] if os.geteuid() == 0 else ["--map-root-user"]), *cmd]


OFFLINE_PIP = {"PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/"}


def bundle_cache(request: pytest.FixtureRequest) -> Path:
    """bundle.sh's cache (build venv, wheels) under pytest's cache dir: kept across runs, absent in a new clone."""
    cache = request.config.cache
    return cache.mkdir("offline-bundle") if cache is not None else Path.home() / ".cache" / "release-bundle"


@pytest.fixture(scope="module")
def tarball(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scripts/bundle.sh run once for the module."""
    out = tmp_path_factory.mktemp("dist")
    bundle = ["bash", str(ROOT / "scripts" / "bundle.sh"), "--out", str(out), "--cache", str(bundle_cache(request))]
    result = run(bundle, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    found = sorted(out.glob("release-offline-*.tar.gz"))
    assert [p.name for p in found] == [f"release-offline-{project_version()}.tar.gz"], found
    assert result.stdout.strip() == str(found[0])
    return found[0]


@pytest.fixture(scope="module")
def extracted(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle unpacked with tar, as on the customer's controller."""
    where = tmp_path_factory.mktemp("unpacked")
    result = run(["tar", "-xzf", str(tarball), "-C", str(where)])
    assert result.returncode == 0, result.stderr
    (top,) = where.iterdir()
    return top


def project_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def runtime_dependencies() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {canonical(re.split(r"[\s<>=!~;\[]", dep, maxsplit=1)[0]) for dep in deps}


def bundle_wheels(tarball: Path) -> list[Wheel]:
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    top = f"release-offline-{project_version()}"
    assert {f"{top}/install.sh", f"{top}/README.md", f"{top}/SHA256SUMS"} <= set(names), names
    assert all(name == top or name.startswith(f"{top}/") for name in names), names
    return [Wheel.parse(Path(n).name) for n in names if n.startswith(f"{top}/wheels/") and n.endswith(".whl")]


def test_the_bundle_has_a_glibc_2_17_wheel_of_every_compiled_dependency_for_each_target(tarball: Path) -> None:
    wheels = bundle_wheels(tarball)
    names = {w.name for w in wheels}
    assert runtime_dependencies() <= names, runtime_dependencies() - names
    assert "psycopg_binary" not in names and "pytest" not in names  # the test extras stay out
    compiled = {w.name for w in wheels if w.compiled}
    assert compiled >= KNOWN_COMPILED, KNOWN_COMPILED - compiled
    for name in sorted(names):
        for python in PYTHONS:
            for arch in ARCHS:
                assert any(w.installs_on(python, arch) for w in wheels if w.name == name), (
                    f"no wheel of {name} for CPython {python} on manylinux2014 {arch}: "
                    f"{[w.filename for w in wheels if w.name == name]}"
                )
    for wheel in wheels:  # nothing that only installs where it was built (linux_x86_64) or needs a newer glibc
        assert not wheel.compiled or any(_glibc_ok(p, a) for p in wheel.platforms for a in ARCHS), wheel.filename


def test_the_wheel_of_release_carries_its_skeleton_and_playbooks(extracted: Path) -> None:
    (wheel,) = extracted.glob(f"wheels/release-{project_version()}-py3-none-any.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    source = ROOT / "release"
    skeleton = [p for p in (source / "skeleton").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    shipped = [*sorted((source / "playbooks").glob("*.yml")), *skeleton]
    assert len(shipped) >= 4
    assert {p.relative_to(ROOT).as_posix() for p in shipped} <= names
    assert "release/py.typed" in names
    sums = run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=extracted)
    assert sums.returncode == 0, sums.stdout + sums.stderr


def installed_distributions(venv: Path) -> dict[str, str]:
    script = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    result = run([str(venv / "bin" / "python"), "-c", script], env=clean_env())
    assert result.returncode == 0, result.stderr
    return {canonical(name): version for name, version in json.loads(result.stdout).items()}


def install(extracted: Path, venv: Path, python: str | None = None) -> subprocess.CompletedProcess[str]:
    env = clean_env(**OFFLINE_PIP, **({"PYTHON": python} if python else {}))
    return run(offline(["bash", str(extracted / "install.sh"), str(venv)]), cwd=venv.parent, env=env)


def assert_installed_from_the_bundle(extracted: Path, venv: Path, python: str | None = None) -> None:
    """`release --version` runs; release imports from the venv (with `python`); every dist is a bundled wheel."""
    result = run([str(venv / "bin" / "release"), "--version"], env=clean_env())
    assert result.returncode == 0 and result.stdout.strip() == f"release {project_version()}", result
    where = run([str(venv / "bin" / "python"), "-c", "import release, sys; print(release.__file__, sys.version)"],
                env=clean_env(), cwd=venv.parent)  # fmt: skip
    assert where.stdout.startswith(str(venv / "lib")), where
    assert python is None or where.stdout.split()[1].startswith(f"{python}."), where.stdout
    bundled = {(w.name, w.version) for w in (Wheel.parse(p.name) for p in (extracted / "wheels").glob("*.whl"))}
    installed = {(name, v) for name, v in installed_distributions(venv).items() if name not in ("pip", "setuptools")}
    assert installed <= bundled, installed - bundled
    assert {name for name, _ in installed} >= runtime_dependencies()


def test_install_sh_installs_offline_and_the_demo_deploys_and_rolls_back(extracted: Path, tmp_path: Path) -> None:
    venv = tmp_path / "controller" / "release-venv"
    venv.parent.mkdir()
    result = install(extracted, venv)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ln -sf {venv}/bin/release /usr/local/bin/release" in result.stdout
    assert f'export PATH="{venv}/bin:$PATH"' in result.stdout
    assert_installed_from_the_bundle(extracted, venv)

    project = tmp_path / "demo-project"  # the embedded demo, without the checkout's playbooks/
    shutil.copytree(ROOT / "demo", project / "demo", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "inventory").mkdir()
    shutil.copy(ROOT / "inventory" / "demo.yml", project / "inventory" / "demo.yml")
    python, release = str(venv / "bin" / "python"), str(venv / "bin" / "release")
    env = clean_env()
    for step in (
        [python, "demo/build_artifact.py", "1.0.0"],
        [python, "demo/build_artifact.py", "1.1.0"],
        [python, "demo/seed_db.py", ".demo/oa.db"],
        [release, "deploy", "demo", "--version", "1.0.0", "--yes"],
        [release, "deploy", "demo", "--version", "1.1.0", "--yes"],
    ):
        done = run(step, cwd=project, env=env)
        assert done.returncode == 0, f"{step}: {done.stdout}{done.stderr}"
    for host in ("web1", "web2"):
        assert (project / ".demo" / host / "current" / "VERSION").read_text() == "1.1.0\n"
    restarts = (project / ".demo" / "web1" / "shared" / "logs" / "restarts.log").read_text()
    assert "restarted oa-portal 1.0.0 on web1" in restarts and "restarted oa-portal 1.1.0 on web1" in restarts
    assert list((project / "backups").rglob("*")), "no pre-release backup of the demo database"

    back = run([release, "rollback", "demo", "--yes"], cwd=project, env=env)
    assert back.returncode == 0, back.stdout + back.stderr
    for host in ("web1", "web2"):
        assert (project / ".demo" / host / "current" / "VERSION").read_text() == "1.0.0\n"
    status = run([release, "status", "demo"], cwd=project, env=env)
    assert status.returncode == 0 and "1.0.0" in status.stdout, status.stdout + status.stderr


def python312() -> str | None:
    """A working CPython 3.12: on PATH, else pyenv's (whose shim on PATH may refuse to run)."""
    pyenv = sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    candidates = [shutil.which("python3.12"), *map(str, pyenv)]
    for candidate in filter(None, candidates):
        probe = run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"], env=clean_env())
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    return None


def test_install_sh_installs_offline_with_python_3_12(extracted: Path, tmp_path: Path) -> None:
    python = python312()
    if python is None:
        pytest.skip("no CPython 3.12 on this machine to install the bundle's cp312 wheels with")
    venv = tmp_path / "release-venv-312"
    result = install(extracted, venv, python)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_installed_from_the_bundle(extracted, venv, "3.12")


def fake_python(path: Path, version: str, libc: str) -> Path:
    """A `python` that reports this version and C library to install.sh; other calls go to python3."""
    real = shutil.which("python3")
    assert real
    path.write_text(
        "#!/usr/bin/env bash\n"
        f'case "$*" in *version_info*) echo "{version} $0" ;; *CS_GNU_LIBC_VERSION*) echo "{libc}" ;;'
        f' *) exec {real} "$@" ;; esac\n'
    )
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("version", "libc", "message"),
    [
        ("3.10", "glibc 2.36", "release needs Python >= 3.11, and this bundle has wheels for CPython 3.11 and 3.12"),
        ("3.13", "glibc 2.36", "found: {python} (3.13)"),
        ("3.11", "glibc 2.12", "need glibc >= 2.17; this system has glibc 2.12"),
        ("3.11", "", "this system's C library is not glibc"),
    ],
)
def test_install_sh_refuses_a_controller_it_cannot_serve_with_the_reason(
    extracted: Path, tmp_path: Path, version: str, libc: str, message: str
) -> None:
    python = fake_python(tmp_path / "python", version, libc)
    venv = tmp_path / "venv"
    result = install(extracted, venv, str(python))
    assert result.returncode == 1, result.stdout + result.stderr
    assert message.format(python=python) in result.stderr
    assert not venv.exists()


def test_bundle_sh_fails_naming_the_package_and_every_target_without_a_glibc_2_17_wheel(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # numpy 2.3 and newer ship manylinux_2_28 wheels only: a dependency the bundle cannot serve
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    for name in ("release", "scripts"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    assert "dependencies = [\n" in text
    pyproject.write_text(text.replace("dependencies = [\n", 'dependencies = [\n    "numpy>=2.3",\n', 1))
    out = tmp_path / "out"
    result = run(
        ["bash", str(copy / "scripts" / "bundle.sh"), "--out", str(out), "--cache", str(bundle_cache(request))]
    )
    assert result.returncode == 1, result.stdout + result.stderr
    for python in PYTHONS:
        for arch in ARCHS:
            line = rf"error: no wheel of numpy==[\d.]+ for CPython {python} on manylinux2014 {arch} \(glibc 2\.17\)"
            assert re.search(line, result.stderr), result.stderr
    assert "pin in scripts/bundle-constraints.txt" in result.stderr
    assert not list(out.glob("*.tar.gz"))
