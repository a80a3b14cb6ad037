"""Build the demo artifact `artifacts/oa-portal-<version>.tar.gz` from demo/app (stamping the version)."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(version: str) -> Path:
    """Write the artifact (if missing) and return its path."""
    target = ROOT / "artifacts" / f"oa-portal-{version}.tar.gz"
    if target.exists():
        return target
    target.parent.mkdir(exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as archive:
        for path in sorted((ROOT / "demo" / "app").rglob("*")):
            name = path.relative_to(ROOT / "demo" / "app").as_posix()
            if path.is_file():
                data = path.read_bytes().replace(b"@VERSION@", version.encode())
                info = archive.gettarinfo(str(path), arcname=name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("VERSION")
        info.size = len(version) + 1
        archive.addfile(info, io.BytesIO(f"{version}\n".encode()))
    tmp.replace(target)
    return target


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "1.0.0"))
