"""Shrink a virtualenv's site-packages for a run-time image (used by the build stages of ops_mcp/Dockerfile and
backend-app/Dockerfile).

    python slim_site_packages.py SITE_PACKAGES --zip [--remove PATH ...]   (the dependencies, once installed)
    python slim_site_packages.py SITE_PACKAGES --finish                    (after the app's own install)

--zip:
- Removes the --remove paths (relative to SITE_PACKAGES, with their .dist-info): parts the app never imports;
  and the packages' own test suites (PKG/tests, PKG/test).
- Strips native extensions' symbol tables (`strip --strip-unneeded`, when binutils is there).
- Moves every pure-Python top-level package (only .py files, plus py.typed/.pyi) into one compressed
  archive, SITE_PACKAGES.zip, as compiled bytecode without sources (nor stubs, readmes, .proto files);
  a .pth file puts it on sys.path.
  Packages with native code or data files stay on disk (their data is opened by path) with their
  bytecode compiled. A namespace package (no __init__.py) is split: each of its parts goes by the rule.
--finish: removes what only installs need (pip, setuptools, pkg_resources, wheel, the .dist-info RECORD
  lists) and compiles what is on disk (the app keeps its sources: readable tracebacks).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import marshal
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

INSTALL_ONLY = ("pip", "setuptools", "pkg_resources", "_distutils_hack", "wheel", "distutils-precedence.pth")
PURE = {".py", ".typed"}
# Files no import reads: left out of the archive (licences are kept in the .dist-info folders).
IGNORED = {".pyi", ".md", ".rst", ".txt", ".proto", ".h", ".c", ".pyx", ".pxd", ".keep", "LICENSE", "COPYING", "NOTICE", "AUTHORS"}


def bytecode(source: Path, name: str) -> bytes:
    """A .pyc (unchecked: there is no source to compare with) for `source`, shown as `name` in tracebacks."""
    code = compile(source.read_bytes(), name, "exec", dont_inherit=True)
    flags = (0b01).to_bytes(4, "little")  # hash-based, unchecked
    return importlib.util.MAGIC_NUMBER + flags + bytes(8) + marshal.dumps(code)


def units(site: Path) -> list[Path]:
    """Top-level modules and packages; a namespace package's parts instead of the namespace package."""
    found = []
    for top in sorted(site.iterdir()):
        if top.name.endswith((".dist-info", ".pth", ".egg-info", ".data")) or top.name == "__pycache__":
            continue
        if top.is_dir() and not (top / "__init__.py").exists() and any(top.glob("*/__init__.py")):
            found += sorted(top.iterdir())
        else:
            found.append(top)
    return found


def zip_pure(site: Path, unused: list[str]) -> None:
    for rel in unused:
        for path in [site / rel, *site.glob(f"{rel}-*.dist-info")]:
            shutil.rmtree(path, ignore_errors=True)
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache)
    for suite in [*site.glob("*/tests"), *site.glob("*/test")]:  # the packages' own test suites
        if suite.is_dir() and (suite.parent / "__init__.py").exists():
            shutil.rmtree(suite)
    native = [p for p in site.rglob("*.so*") if p.is_file()]
    if shutil.which("strip"):
        subprocess.run(["strip", "--strip-unneeded", *map(str, native)], check=True)
    archive = site.with_suffix(".zip")
    moved = []
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        dirs_written = set()
        for unit in units(site):
            if unit.name in INSTALL_ONLY or unit.stem in INSTALL_ONLY:
                continue
            files = [unit] if unit.is_file() else sorted(p for p in unit.rglob("*") if p.is_file())
            if not files or any((p.suffix or p.name) not in PURE | IGNORED for p in files):
                continue  # native code or data files: stays on disk
            if unit.is_dir():
                for d in sorted({*unit.parents, unit, *(p for p in unit.rglob("*") if p.is_dir())}):
                    if d.is_relative_to(site) and d != site and d not in dirs_written:
                        zf.writestr(zipfile.ZipInfo(d.relative_to(site).as_posix() + "/"), b"")
                        dirs_written.add(d)
            for p in files:
                rel = p.relative_to(site).as_posix()
                if p.suffix == ".py":
                    zf.writestr(rel + "c", bytecode(p, rel), zipfile.ZIP_DEFLATED)
                elif p.suffix == ".typed":
                    zf.writestr(rel, p.read_bytes())
            moved.append(unit)
    for unit in moved:
        shutil.rmtree(unit) if unit.is_dir() else unit.unlink()
    for top in site.iterdir():  # namespace packages left empty
        if top.is_dir() and not any(top.iterdir()):
            top.rmdir()
    (site / "zz-site-packages-zip.pth").write_text(f"{archive}\n")
    print(f"{len(moved)} packages zipped into {archive} ({archive.stat().st_size // 1_000_000} MB); native strip: {bool(shutil.which('strip'))}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("site", type=Path)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--zip", action="store_true")
    mode.add_argument("--finish", action="store_true")
    parser.add_argument("--remove", nargs="*", default=[])
    args = parser.parse_args()
    site: Path = args.site.resolve()
    if args.zip:
        zip_pure(site, args.remove)
    else:
        for name in INSTALL_ONLY:
            for path in [site / name, *site.glob(f"{name}-*.dist-info")]:
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        for record in site.glob("*.dist-info/RECORD"):  # the installed files' list: for pip, gone now
            record.unlink()
    # What stays on disk gets its bytecode now: the image's root filesystem is read-only at run time.
    return 0 if compileall.compile_dir(str(site), quiet=1, workers=1) else 1


if __name__ == "__main__":
    sys.exit(main())
