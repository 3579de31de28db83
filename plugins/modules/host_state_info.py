#!/usr/bin/python
# Ansible wants the imports below DOCUMENTATION, EXAMPLES and RETURN.
# ruff: noqa: E402

from __future__ import annotations

DOCUMENTATION = r"""
module: host_state_info
short_description: Read the state a role manages on a host in one pass
version_added: 1.0.0
description:
  - Reads, without changing anything, the state of files and directories, whether paths are
    writable, Debian packages, the owners of a listening TCP port, a Docker engine's socket and
    pidfile, commands, Python modules and whether the open-files limit can be raised.
  - One call instead of a module per file, package and check keeps a run that has nothing to do
    short; roles still change things with their own modules, where this state differs from what
    they want.
  - Everything is read on the managed host.
author:
  - accountservice maintainers (!UNKNOWN)
options:
  paths:
    description:
      - Paths to describe with C(lstat) (a symbolic link is described, not followed).
      - Missing paths are left out of RV(paths).
    type: list
    elements: path
    default: []
  writable:
    description:
      - Paths to test for writing with C(access(W_OK)), without writing to them; a path on a
        read-only mount is not writable, even for root.
      - For example V(/proc/sys/net/ipv6/conf/all/disable_ipv6), which is read-only inside most
        containers.
      - Missing paths are left out of RV(writable).
    type: list
    elements: path
    default: []
  packages:
    description:
      - Debian packages to look up with one C(dpkg-query) call.
      - Names that dpkg does not know are left out of RV(packages).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The package name.
        type: str
        required: true
      version:
        description:
          - An C(fnmatch) pattern the installed version must match, for example V(5:20.10.*).
          - V("") matches any version.
        type: str
        default: ""
  port:
    description:
      - A TCP port; RV(port_owners) then names the processes that listen on it (IPv4 or IPv6).
    type: int
  docker_socket:
    description:
      - The unix socket of a Docker engine; RV(engine_answers) then tells whether the engine
        answers C(GET /_ping).
    type: path
  pidfile:
    description:
      - A pidfile; RV(pidfile_dockerd) then tells whether it holds the PID of a running C(dockerd).
    type: path
  engine_pidfile:
    description:
      - The engine's own pidfile (C(dockerd --pidfile), V(/var/run/docker.pid) by default);
        RV(engine_started) then tells when the C(dockerd) it names started, and
        RV(engine_binary_replaced) whether its executable was replaced since.
    type: path
  engine_config:
    description:
      - Files the engine reads when it starts (daemon.json, a unit drop-in, its TLS files). With
        O(engine_pidfile), RV(engine_config_not_loaded) lists those changed after the engine
        started, which it has not loaded (a run stopped between the write and the restart).
    type: list
    elements: path
    default: []
  commands:
    description:
      - Command names to look for on E(PATH) and in C(/usr/local/sbin), C(/usr/local/bin),
        C(/usr/sbin), C(/usr/bin), C(/sbin) and C(/bin).
    type: list
    elements: str
    default: []
  python_modules:
    description:
      - Python module names; RV(python_modules) tells whether the interpreter that runs this
        module can import each.
      - The modules are found, not imported (C(importlib.util.find_spec)); for a dotted name its
        parent packages are imported, as C(find_spec) needs them.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - accountservice.swarm.attributes
  - accountservice.swarm.attributes.info_module
notes:
  - RV(port_owners) reads C(/proc/net/tcp), C(/proc/net/tcp6) and the file descriptors of every
    process it may see; a listener in another PID namespace, or of a process it may not inspect, is
    reported as V(an unknown process).
  - RV(nofile_raisable) answers whether C(ulimit -n 1048576), which the Debian C(docker) init
    script runs, would work; raising a hard limit needs C(CAP_SYS_RESOURCE). The limit of the
    module's own process is put back right away.
requirements:
  - Linux (C(/proc)).
  - C(dpkg-query) for O(packages); without it RV(packages) is empty.
"""

EXAMPLES = r"""
---
- name: Read what the docker_host role manages
  accountservice.swarm.host_state_info:
    paths:
      - /etc/docker/daemon.json
      - /etc/docker/certs
    writable:
      - /proc/sys/net/ipv6/conf/all/disable_ipv6
    packages:
      - name: docker.io
        version: "20.10.*"
      - name: containerd
    port: 2376
    docker_socket: /var/run/docker.sock
    pidfile: /var/run/docker.pid
    commands: [docker, dockerd, start-stop-daemon]
    python_modules: [docker, requests]
  register: docker_host__state

- name: Fail when another program holds the engine's TLS port
  ansible.builtin.assert:
    that: docker_host__state.port_owners | difference(['dockerd']) | length == 0
    fail_msg: "Port 2376 is taken by {{ docker_host__state.port_owners | join(', ') }}."
"""

RETURN = r"""
paths:
  description:
    - Per existing path of O(paths), what C(lstat) says about it.
  returned: always
  type: dict
  sample:
    /etc/docker/daemon.json:
      type: file
      mode: "0644"
      owner: root
      group: root
      sha256: 5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef
      mtime: 1764766512.25
  contains:
    type:
      description: V(file), V(directory), V(link) or V(other).
      type: str
      returned: always
    mode:
      description: The permission bits as four octal digits.
      type: str
      returned: always
      sample: "0644"
    owner:
      description: The owner's user name (the UID as a string when it has no name).
      type: str
      returned: always
    group:
      description: The group's name (the GID as a string when it has no name).
      type: str
      returned: always
    mtime:
      description: The time of the last change of the content (of the link itself for a link), in
        seconds since the epoch.
      type: float
      returned: always
    sha256:
      description: The SHA-256 of the content, in hex.
      type: str
      returned: for a readable file
    target:
      description: What the link points to.
      type: str
      returned: for a link
writable:
  description:
    - Per existing path of O(writable), whether this process may write to it.
  returned: always
  type: dict
  sample:
    /proc/sys/net/ipv6/conf/all/disable_ipv6: false
packages:
  description:
    - Per package of O(packages) that dpkg knows, its state.
  returned: always
  type: dict
  sample:
    docker.io:
      version: 20.10.24+dfsg1-1+deb12u1
      status: ii
      selection: install
      version_matches: true
  contains:
    version:
      description: The installed version (empty when the package is not installed).
      type: str
      returned: always
    status:
      description: dpkg's C(db:Status-Abbrev), stripped, for example V(ii) or V(rc).
      type: str
      returned: always
    selection:
      description: dpkg's C(db:Status-Want), for example V(install) or V(hold).
      type: str
      returned: always
    version_matches:
      description: Whether RV(packages.version) matches the O(packages[].version) pattern.
      type: bool
      returned: always
port_owners:
  description:
    - Sorted, unique command names (C(/proc/PID/comm)) of the processes with a listening TCP
      socket on O(port).
    - V([an unknown process]) when something listens but no visible process owns it; V([]) when
      nothing listens.
  returned: when O(port) is set
  type: list
  elements: str
  sample: [dockerd]
engine_answers:
  description: Whether the engine answers C(GET /_ping) on O(docker_socket).
  returned: when O(docker_socket) is set
  type: bool
pidfile_dockerd:
  description:
    - Whether O(pidfile) holds the PID of a running process whose command name is C(dockerd).
  returned: when O(pidfile) is set
  type: bool
engine_started:
  description:
    - When the C(dockerd) named by O(engine_pidfile) started, in seconds since the epoch (to
      within a clock tick); V(null) when the pidfile names no running C(dockerd).
    - Derived from the process's start in C(/proc/PID/stat) and C(CLOCK_BOOTTIME), so a container's
      virtualised C(/proc/uptime) or C(/proc/stat) does not skew it.
  returned: when O(engine_pidfile) is set
  type: float
  sample: 1764766520.41
engine_config_not_loaded:
  description:
    - The files of O(engine_config) whose content changed more than a second after the engine
      started (the start time is known to a clock tick), and not in the future (a clock set back
      would otherwise make them look newer at every run).
    - V([]) when no C(dockerd) runs from O(engine_pidfile).
  returned: when O(engine_pidfile) is set
  type: list
  elements: str
  sample: [/etc/docker/daemon.json]
engine_binary_replaced:
  description:
    - The executable of the C(dockerd) named by O(engine_pidfile) when it was replaced on disk
      after the engine started (a package upgrade whose restart did not happen), else V(null).
  returned: when O(engine_pidfile) is set
  type: str
  sample: /usr/bin/dockerd
commands:
  description: Per command of O(commands), its absolute path, or V(null) when it is not found.
  returned: always
  type: dict
  sample:
    docker: /usr/bin/docker
    start-stop-daemon: /usr/sbin/start-stop-daemon
    dockerd: null
python_modules:
  description:
    - Per module of O(python_modules), whether the interpreter running this module can import it.
  returned: always
  type: dict
  sample:
    docker: false
    requests: true
nofile_raisable:
  description:
    - Whether this process may raise its open-files limit (soft and hard) to 1048576.
  returned: always
  type: bool
"""

import contextlib
import fnmatch
import grp
import hashlib
import importlib.util
import os
import pwd
import resource
import shutil
import stat
import time
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.accountservice.swarm.plugins.module_utils.docker_socket import (
    DockerSocket,
)

TCP_LISTEN = "0A"
NOFILE_TARGET = 1048576
DPKG_FIELDS = "${Package}\t${Version}\t${db:Status-Abbrev}\t${db:Status-Want}\n"
# The start time of a process is known to a clock tick (1/100 s), a file's time
# to the file system's resolution
START_SLACK_SECONDS = 1.0
EXTRA_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

Runner = Callable[[list], tuple[int, str, str]]


def path_state(path: str) -> dict[str, Any] | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        kind = "link"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    elif stat.S_ISDIR(info.st_mode):
        kind = "directory"
    else:
        kind = "other"
    state: dict[str, Any] = {
        "type": kind,
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
        "owner": _name_of(pwd.getpwuid, info.st_uid),
        "group": _name_of(grp.getgrgid, info.st_gid),
        "mtime": info.st_mtime,
    }
    if kind == "file":
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(65536), b""):
                    digest.update(block)
        except OSError:
            pass
        else:
            state["sha256"] = digest.hexdigest()
    elif kind == "link":
        with contextlib.suppress(OSError):
            state["target"] = os.readlink(path)
    return state


def _name_of(lookup: Callable[[int], Any], number: int) -> str:
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def paths_state(paths: list[str]) -> dict[str, dict[str, Any]]:
    found = {path: path_state(path) for path in paths}
    return {path: state for path, state in found.items() if state is not None}


def writable_state(paths: list[str]) -> dict[str, bool]:
    """access(W_OK) per existing path: false on a read-only mount (EROFS), even for root."""
    found = {}
    for path in paths:
        if os.path.lexists(path):
            found[path] = os.access(path, os.W_OK)
    return found


def packages_state(
    specs: list[dict[str, str]], dpkg_query: str | None, run: Runner
) -> dict[str, dict[str, Any]]:
    """One dpkg-query call for every package; names dpkg does not know are left out."""
    wanted = {spec["name"]: spec.get("version") or "" for spec in specs}
    if not wanted or not dpkg_query:
        return {}
    # dpkg-query exits 1 when a name is unknown and still prints the known ones.
    _rc, out, _err = run([dpkg_query, "-W", "-f", DPKG_FIELDS, *wanted])
    found: dict[str, dict[str, Any]] = {}
    for line in out.splitlines():
        name, version, status, want = [*line.split("\t"), "", "", ""][:4]
        pattern = wanted.get(name)
        if pattern is None:
            continue
        found[name] = {
            "version": version,
            "status": status.strip(),
            "selection": want.strip(),
            "version_matches": not pattern or fnmatch.fnmatchcase(version, pattern),
        }
    return found


def listening_inodes(port: int, root: str = "/") -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(os.path.join(root, "proc", "net", table)) as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != TCP_LISTEN:
                continue
            try:
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
            except (IndexError, ValueError):
                continue
            if local_port == port:
                inodes.add(fields[9])
    return inodes


def port_owners(port: int, root: str = "/") -> list[str]:
    inodes = listening_inodes(port, root)
    if not inodes:
        return []
    sockets = {f"socket:[{inode}]" for inode in inodes}
    proc = os.path.join(root, "proc")
    try:
        pids = [entry for entry in os.listdir(proc) if entry.isdigit()]
    except OSError:
        pids = []
    names = set()
    for pid in pids:
        fd_dir = os.path.join(proc, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        owns = False
        for fd in fds:
            try:
                if os.readlink(os.path.join(fd_dir, fd)) in sockets:
                    owns = True
                    break
            except OSError:
                continue
        if not owns:
            continue
        comm = read_comm(pid, root)
        if comm is not None:
            names.add(comm)
    # A listener whose process cannot be seen (another PID namespace) still holds the port.
    return sorted(names) or ["an unknown process"]


def read_comm(pid: str | int, root: str = "/") -> str | None:
    try:
        with open(os.path.join(root, "proc", str(pid), "comm")) as handle:
            return handle.read().strip()
    except OSError:
        return None


def pidfile_pid(path: str) -> int | None:
    try:
        with open(path) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def pidfile_dockerd(path: str, root: str = "/") -> bool:
    pid = pidfile_pid(path)
    return pid is not None and read_comm(pid, root) == "dockerd"


def process_started(
    pid: int,
    root: str = "/",
    now: Callable[[], float] = time.time,
    boottime: Callable[[], float] = lambda: time.clock_gettime(time.CLOCK_BOOTTIME),
    ticks: int | None = None,
) -> float | None:
    """When a process started, in seconds since the epoch; None when it cannot be read."""
    try:
        with open(os.path.join(root, "proc", str(pid), "stat")) as handle:
            text = handle.read()
        # The command name, in parentheses, may hold spaces: the fields follow its last ")".
        # The start time is field 22 of the line, the 20th after the name.
        start_ticks = int(text.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
    per_second = ticks or os.sysconf("SC_CLK_TCK")
    return round(now() - (boottime() - start_ticks / per_second), 2)


def engine_started(path: str, root: str = "/", **clocks: Any) -> float | None:
    pid = pidfile_pid(path)
    if pid is None or read_comm(pid, root) != "dockerd":
        return None
    return process_started(pid, root, **clocks)


def binary_replaced(path: str, root: str = "/") -> str | None:
    """The executable of the dockerd named by the pidfile when it was replaced on disk.

    A package upgrade renames the new binary over the old one; the running process keeps
    the old inode, which the kernel then shows as "PATH (deleted)" in /proc/PID/exe.
    """
    pid = pidfile_pid(path)
    if pid is None or read_comm(pid, root) != "dockerd":
        return None
    try:
        target = os.readlink(os.path.join(root, "proc", str(pid), "exe"))
    except OSError:
        return None
    suffix = " (deleted)"
    return target[: -len(suffix)] if target.endswith(suffix) else None


def not_loaded(
    paths: list[str], started: float | None, now: Callable[[], float] = time.time
) -> list[str]:
    """The paths changed after the engine started (and not in the future)."""
    if started is None:
        return []
    found = []
    moment = now()
    for path in paths:
        try:
            mtime = os.lstat(path).st_mtime
        except OSError:
            continue
        if started + START_SLACK_SECONDS < mtime <= moment:
            found.append(path)
    return found


def commands_state(names: list[str], env_path: str | None = None) -> dict[str, str | None]:
    if env_path is None:
        env_path = os.environ.get("PATH", "")
    dirs = []
    for directory in [*env_path.split(os.pathsep), *EXTRA_PATH]:
        if directory and directory not in dirs:
            dirs.append(directory)
    search = os.pathsep.join(dirs)
    found: dict[str, str | None] = {}
    for name in names:
        location = shutil.which(name, path=search)
        found[name] = os.path.abspath(location) if location else None
    return found


def python_modules_state(names: list[str]) -> dict[str, bool]:
    found = {}
    for name in names:
        try:
            found[name] = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found[name] = False
    return found


def nofile_raisable(
    getrlimit: Callable[[int], tuple[int, int]] = resource.getrlimit,
    setrlimit: Callable[[int, tuple[int, int]], None] = resource.setrlimit,
) -> bool:
    soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard >= NOFILE_TARGET:
        # Lowering the hard limit and raising the soft one up to it needs no privilege.
        return True
    try:
        setrlimit(resource.RLIMIT_NOFILE, (NOFILE_TARGET, NOFILE_TARGET))
    except (ValueError, OSError):
        return False
    with contextlib.suppress(ValueError, OSError):
        setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return True


def host_state(
    params: dict[str, Any], run: Runner, dpkg_query: str | None, root: str = "/"
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "nofile_raisable": nofile_raisable(),
        "paths": paths_state(params.get("paths") or []),
        "writable": writable_state(params.get("writable") or []),
        "packages": packages_state(params.get("packages") or [], dpkg_query, run),
        "commands": commands_state(params.get("commands") or []),
        "python_modules": python_modules_state(params.get("python_modules") or []),
    }
    if params.get("port") is not None:
        state["port_owners"] = port_owners(params["port"], root)
    if params.get("docker_socket"):
        state["engine_answers"] = DockerSocket(params["docker_socket"], timeout=5).ping()
    if params.get("pidfile"):
        state["pidfile_dockerd"] = pidfile_dockerd(params["pidfile"], root)
    if params.get("engine_pidfile"):
        started = engine_started(params["engine_pidfile"], root)
        state["engine_started"] = started
        state["engine_config_not_loaded"] = not_loaded(params.get("engine_config") or [], started)
        state["engine_binary_replaced"] = binary_replaced(params["engine_pidfile"], root)
    return state


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", default=[]),
            writable=dict(type="list", elements="path", default=[]),
            packages=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    name=dict(type="str", required=True),
                    version=dict(type="str", default=""),
                ),
            ),
            port=dict(type="int"),
            docker_socket=dict(type="path"),
            pidfile=dict(type="path"),
            engine_pidfile=dict(type="path"),
            engine_config=dict(type="list", elements="path", default=[]),
            commands=dict(type="list", elements="str", default=[]),
            python_modules=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )

    def run(argv: list) -> tuple[int, str, str]:
        # No expansion: the dpkg-query format holds ${...} fields.
        return module.run_command(argv, expand_user_and_vars=False, environ_update={"LC_ALL": "C"})

    state = host_state(module.params, run, module.get_bin_path("dpkg-query"))
    module.exit_json(changed=False, **state)


if __name__ == "__main__":
    main()
