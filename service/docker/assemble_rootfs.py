"""Assemble a minimal root file system for a Python application's runtime.

Run inside the build stage of service/Dockerfile with the interpreter that the
final image should use. Every path comes from ``sys`` and ``sysconfig``, so the
same script works on a debootstrapped Debian base (``/usr/bin/python3.11``) and
on ``python:3.x-slim`` (``/usr/local/bin/python3.x``).

The result holds:

- the interpreter and the shared libraries that it and the kept extension
  modules link to (found with ldd), the dynamic loader, and libgcc_s, which
  glibc loads at run time when a thread exits;
- the standard library without tests, GUI, packaging and documentation parts,
  compiled to .pyc;
- the dependencies installed with pip --target (--site), compiled to .pyc;
  the Dockerfile adds the application itself in a separate, small layer;
- /etc/passwd, /etc/group and /etc/nsswitch.conf with a non-root user, a
  writable data directory and /tmp;
- ``/usr/local/bin/python``, a fixed path for the interpreter whatever the base.
"""

from __future__ import annotations

import argparse
import compileall
import os
import py_compile
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

# Parts of the standard library that a network service never imports.
STDLIB_EXCLUDE_DIRS = {
    "__pycache__",
    "test",
    "tests",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "pydoc_data",
    "distutils",
    "venv",
    "site-packages",
    "dist-packages",
    "__phello__",
}
STDLIB_EXCLUDE_DIR_PATTERNS = (re.compile(r"^config-\d"),)
STDLIB_EXCLUDE_FILES = {"turtle.py", "antigravity.py", "this.py"}
# Extension modules for terminals, GUIs, audio, old databases and CPython's own tests.
EXTENSION_EXCLUDE = re.compile(
    r"^(_tkinter|_curses.*|readline|_dbm|_gdbm|nis|_crypt|ossaudiodev|audioop|spwd"
    r"|_test.*|_ctypes_test|xxlimited.*|_xx.*|xxsubtype)\."
)
LDD_LINE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


class Assembler:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.copied: set[str] = set()

    def target(self, path: str | Path) -> Path:
        return self.root / str(path).lstrip("/")

    def ensure_parent(self, path: str) -> None:
        """Recreate the parent directories of an absolute path, symlinks included.

        /lib -> usr/lib on merged-/usr systems must stay a symlink, or the
        loader path written into every binary (/lib64/ld-linux-x86-64.so.2)
        would not exist.
        """
        current = Path("/")
        for part in Path(path).parent.parts[1:]:
            current = current / part
            dest = self.target(current)
            if current.is_symlink():
                if not os.path.lexists(dest):
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(os.readlink(current), dest)
                self.copy(os.path.realpath(current), recursive=False)
            elif not dest.exists():
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copystat(current, dest)
                # The non-root user must reach the interpreter, even below /root.
                dest.chmod(dest.stat().st_mode | 0o555)

    def copy(self, path: str, recursive: bool = True) -> None:
        """Copy one absolute path into the root, keeping symlinks and their targets."""
        if path in self.copied:
            return
        self.copied.add(path)
        self.ensure_parent(path)
        dest = self.target(path)
        if os.path.islink(path):
            link = os.readlink(path)
            if not os.path.lexists(dest):
                os.symlink(link, dest)
            self.copy(os.path.realpath(path), recursive)
        elif os.path.isdir(path):
            if recursive:
                shutil.copytree(path, dest, symlinks=True, dirs_exist_ok=True)
            else:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copystat(path, dest)
        elif os.path.exists(path):
            shutil.copy2(path, dest)

    def copy_libraries_of(self, binaries: list[str]) -> list[str]:
        """Copy every shared library (and the loader) that the binaries link to."""
        libraries: set[str] = set()
        for binary in binaries:
            result = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False)
            if result.returncode != 0:
                # Statically linked or not an ELF object: nothing to add.
                continue
            for line in result.stdout.splitlines():
                match = LDD_LINE.search(line)
                if match:
                    libraries.add(match.group(1))
        for library in sorted(libraries):
            self.copy(library)
        return sorted(libraries)


def copy_stdlib(assembler: Assembler, stdlib: Path) -> None:
    """Copy the standard library without the excluded parts."""
    for dirpath, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in STDLIB_EXCLUDE_DIRS
            and not any(p.match(d) for p in STDLIB_EXCLUDE_DIR_PATTERNS)
        )
        rel = Path(dirpath).relative_to(stdlib)
        dest_dir = assembler.target(stdlib) / rel
        dest_dir.mkdir(parents=True, exist_ok=True)
        for name in filenames:
            if name in STDLIB_EXCLUDE_FILES or name.endswith((".pyc", ".pyo", ".exe")):
                continue
            if EXTENSION_EXCLUDE.match(name):
                continue
            source = Path(dirpath) / name
            if source.is_symlink() and not source.exists():
                continue  # e.g. Debian's sitecustomize.py pointing into /etc
            # Symlinks (Debian links sitecustomize.py into /etc) become files.
            shutil.copy2(source, dest_dir / name)


def find_in_ld_cache(soname: str) -> str | None:
    """Path of a library in the dynamic linker's cache (ldconfig -p), if any."""
    result = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.split(" ", 1)[0] == soname:
            return path.strip() or None
    return None


def shared_objects(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.so*") if p.is_file() and not p.is_symlink())


def write_accounts(root: Path, user: str, uid: int, home: str) -> None:
    etc = root / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text(
        f"root:x:0:0:root:/root:/sbin/nologin\n"
        f"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
        f"{user}:x:{uid}:{uid}:{user}:{home}:/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\nnogroup:x:65534:\n{user}:x:{uid}:\n")
    (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files dns\n")
    for name in ("passwd", "group", "nsswitch.conf"):
        (etc / name).chmod(0o644)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="output root file system")
    parser.add_argument("--site", required=True, type=Path, help="application site directory")
    parser.add_argument("--site-dest", default="/opt/app", help="where the site goes")
    parser.add_argument("--user", default="app", help="name of the non-root user")
    parser.add_argument("--uid", default=10001, type=int, help="uid and gid of that user")
    parser.add_argument("--data-dir", default="/var/lib/app", help="directory the user owns")
    args = parser.parse_args()

    root: Path = args.root
    root.mkdir(parents=True, exist_ok=True)
    assembler = Assembler(root)

    executable = os.path.realpath(sys.executable)
    stdlib = Path(sysconfig.get_path("stdlib"))
    platstdlib = Path(sysconfig.get_path("platstdlib"))
    dynload = Path(sysconfig.get_config_var("DESTSHARED") or platstdlib / "lib-dynload")

    assembler.copy(executable)
    (root / "usr/local/bin").mkdir(parents=True, exist_ok=True)
    link = root / "usr/local/bin/python"
    if link.resolve() != assembler.target(executable).resolve():
        if os.path.lexists(link):
            link.unlink()
        link.symlink_to(executable)

    copy_stdlib(assembler, stdlib)
    if platstdlib != stdlib:
        copy_stdlib(assembler, platstdlib)
    if not str(dynload).startswith(str(stdlib)):
        copy_stdlib(assembler, dynload)
    # Shared libpython (python:*-slim links the interpreter to it).
    ldlibrary = sysconfig.get_config_var("LDLIBRARY") or ""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    if ldlibrary.endswith(".so") or ".so." in ldlibrary:
        for candidate in Path(libdir).glob(ldlibrary + "*"):
            assembler.copy(str(candidate))

    site_dest = assembler.target(args.site_dest)
    shutil.copytree(args.site, site_dest, symlinks=True, dirs_exist_ok=True)
    for junk in site_dest.rglob("__pycache__"):
        shutil.rmtree(junk, ignore_errors=True)
    for bin_dir in site_dest.glob("bin"):
        shutil.rmtree(bin_dir)

    binaries = [executable, *shared_objects(assembler.target(dynload)), *shared_objects(site_dest)]
    libraries = assembler.copy_libraries_of(binaries)
    # glibc dlopens libgcc_s when a thread exits through pthread_exit.
    gcc_s = find_in_ld_cache("libgcc_s.so.1")
    if gcc_s:
        assembler.copy(gcc_s)

    for tree in (assembler.target(stdlib), site_dest):
        ok = compileall.compile_dir(
            str(tree),
            quiet=1,
            workers=0,
            stripdir=str(root),
            prependdir="/",
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        if not ok:
            print(f"assemble_rootfs: compiling {tree} failed", file=sys.stderr)
            return 1

    write_accounts(root, args.user, args.uid, args.data_dir)
    data_dir = assembler.target(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chown(data_dir, args.uid, args.uid)
    data_dir.chmod(0o750)
    tmp = root / "tmp"
    tmp.mkdir(exist_ok=True)
    tmp.chmod(0o1777)

    print(f"interpreter: {executable}")
    print(f"stdlib:      {stdlib}")
    print("libraries:   " + " ".join(libraries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
