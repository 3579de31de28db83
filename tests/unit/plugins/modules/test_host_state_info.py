from __future__ import annotations

import grp
import hashlib
import os
import pwd
import resource
import socket
import stat
import sys
import time
from pathlib import Path

import pytest
from ansible_collections.accountservice.swarm.plugins.modules import host_state_info
from ansible_collections.accountservice.swarm.plugins.modules.host_state_info import (
    DPKG_FIELDS,
    binary_replaced,
    commands_state,
    engine_started,
    nofile_raisable,
    not_loaded,
    packages_state,
    paths_state,
    pidfile_dockerd,
    port_owners,
    process_started,
    python_modules_state,
    writable_state,
)

TCP_HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
    "   uid  timeout inode\n"
)
TCP_TAIL = (
    "00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000"
    " 100 0 0 10 0\n"
)


def tcp_row(number: int, local: str, remote: str, state: str, inode: int) -> str:
    return f"{number:4d}: {local} {remote} {state} " + TCP_TAIL.format(inode=inode)


V6_ANY = "0" * 32


@pytest.fixture
def proc_root(tmp_path: Path) -> Path:
    """A /proc with listeners on 2376 (v4 and v6), a connection on 2376 and an orphan on 8080."""
    net = tmp_path / "proc" / "net"
    net.mkdir(parents=True)
    (net / "tcp").write_text(
        TCP_HEADER
        + tcp_row(0, "00000000:0948", "00000000:0000", "0A", 1111)
        + tcp_row(1, "0100007F:0948", "0100007F:D2A4", "01", 2222)
        + tcp_row(2, "00000000:1F90", "00000000:0000", "0A", 3333)
        + tcp_row(3, "0100007F:0016", "0100007F:0948", "01", 5555)
    )
    (net / "tcp6").write_text(
        TCP_HEADER + tcp_row(0, f"{V6_ANY}:0948", f"{V6_ANY}:0000", "0A", 4444)
    )
    processes = {
        "100": ("dockerd", {"3": "socket:[1111]", "4": "/dev/null"}),
        "101": ("dockerd", {"7": "socket:[1111]"}),
        "200": ("docker-proxy", {"4": "socket:[4444]"}),
        "300": ("sshd", {"5": "socket:[2222]", "6": "socket:[5555]"}),
        "400": ("bash", {"0": "/dev/pts/0"}),
        "500": ("sleep", {}),
    }
    for pid, (comm, fds) in processes.items():
        fd_dir = tmp_path / "proc" / pid / "fd"
        fd_dir.mkdir(parents=True)
        (tmp_path / "proc" / pid / "comm").write_text(comm + "\n")
        for fd, target in fds.items():
            os.symlink(target, fd_dir / fd)
    # Entries that are no PID directory, or a process gone without its fd directory.
    (tmp_path / "proc" / "self").mkdir()
    (tmp_path / "proc" / "600").mkdir()
    return tmp_path


def test_port_owners_v4_and_v6_listeners(proc_root: Path) -> None:
    assert port_owners(2376, str(proc_root)) == ["docker-proxy", "dockerd"]


def test_port_owners_ignores_connections_that_do_not_listen(proc_root: Path) -> None:
    # sshd holds a connection from port 22 to 2376, and one on 2376, but listens on neither.
    assert "sshd" not in port_owners(2376, str(proc_root))
    assert port_owners(22, str(proc_root)) == []


def test_port_owners_listener_without_visible_process(proc_root: Path) -> None:
    assert port_owners(8080, str(proc_root)) == ["an unknown process"]


def test_port_owners_nothing_listens(proc_root: Path, tmp_path: Path) -> None:
    assert port_owners(9999, str(proc_root)) == []
    assert port_owners(2376, str(tmp_path / "no-proc-here")) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [("100\n", True), ("101", True), ("300\n", False), ("999\n", False), ("dockerd\n", False)],
)
def test_pidfile_dockerd(proc_root: Path, tmp_path: Path, content: str, expected: bool) -> None:
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text(content)
    assert pidfile_dockerd(str(pidfile), str(proc_root)) is expected


def test_pidfile_missing_or_empty(proc_root: Path, tmp_path: Path) -> None:
    assert pidfile_dockerd(str(tmp_path / "absent.pid"), str(proc_root)) is False
    (tmp_path / "empty.pid").write_text("")
    assert pidfile_dockerd(str(tmp_path / "empty.pid"), str(proc_root)) is False


def write_stat(proc_root: Path, pid: str, comm: str, start_ticks: int) -> None:
    # /proc/PID/stat: pid, (comm), then fields 3.. ; the start time is field 22
    fields = ["S", "1", *["0"] * 16, "20", str(start_ticks), "123456", "789"]
    (proc_root / "proc" / pid / "stat").write_text(f"{pid} ({comm}) {' '.join(fields)}\n")


def test_process_started_from_its_ticks_since_boot(proc_root: Path) -> None:
    # A command name with spaces and a ")" must not shift the fields
    write_stat(proc_root, "100", "docker d) x", 250_000)
    clocks = {"now": lambda: 1_764_800_000.0, "boottime": lambda: 3_000.0, "ticks": 100}
    # Booted 3000 s ago, started 2500 s after the boot: 500 s ago
    assert process_started(100, str(proc_root), **clocks) == 1_764_799_500.0
    assert process_started(500, str(proc_root), **clocks) is None


def test_engine_started_only_for_a_running_dockerd(proc_root: Path, tmp_path: Path) -> None:
    write_stat(proc_root, "100", "dockerd", 100)
    write_stat(proc_root, "300", "sshd", 100)
    clocks = {"now": lambda: 1000.0, "boottime": lambda: 10.0, "ticks": 100}
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text("100\n")
    assert engine_started(str(pidfile), str(proc_root), **clocks) == 991.0
    pidfile.write_text("300\n")
    assert engine_started(str(pidfile), str(proc_root), **clocks) is None
    assert engine_started(str(tmp_path / "absent.pid"), str(proc_root), **clocks) is None


def test_engine_started_of_this_process_is_now(tmp_path: Path, monkeypatch) -> None:
    # The real clocks: a process started a moment ago, not at the epoch or in the future
    monkeypatch.setattr(host_state_info, "read_comm", lambda pid, root="/": "dockerd")
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    started = engine_started(str(pidfile))
    assert started is not None
    assert started <= time.time() + 1
    assert started > time.time() - 3600


def test_binary_replaced_names_a_deleted_executable(proc_root: Path, tmp_path: Path) -> None:
    # The kernel shows the old inode of a binary renamed over as "PATH (deleted)"
    (proc_root / "proc" / "100" / "exe").symlink_to("/usr/bin/dockerd (deleted)")
    (proc_root / "proc" / "101" / "exe").symlink_to("/usr/bin/dockerd")
    (proc_root / "proc" / "300" / "exe").symlink_to("/usr/sbin/sshd (deleted)")
    pidfile = tmp_path / "docker.pid"
    expected = {"100": "/usr/bin/dockerd", "101": None, "300": None, "500": None, "999": None}
    for pid, replaced in expected.items():
        pidfile.write_text(f"{pid}\n")
        assert binary_replaced(str(pidfile), str(proc_root)) == replaced, pid
    assert binary_replaced(str(tmp_path / "absent.pid"), str(proc_root)) is None


def test_not_loaded_lists_files_changed_after_the_start(tmp_path: Path) -> None:
    files = {"old": 900.0, "same-second": 1000.5, "newer": 1002.0, "future": 5000.0}
    for name, mtime in files.items():
        (tmp_path / name).write_text("{}")
        os.utime(tmp_path / name, (mtime, mtime))
    paths = [str(tmp_path / name) for name in [*files, "absent"]]
    assert not_loaded(paths, 1000.0, now=lambda: 2000.0) == [str(tmp_path / "newer")]
    assert not_loaded(paths, None, now=lambda: 2000.0) == []


def test_paths_state(tmp_path: Path) -> None:
    data = tmp_path / "daemon.json"
    data.write_bytes(b'{"hosts": []}\n')
    data.chmod(0o640)
    certs = tmp_path / "certs"
    certs.mkdir()
    certs.chmod(0o2750)
    link = tmp_path / "current"
    link.symlink_to("certs")
    dangling = tmp_path / "dangling"
    dangling.symlink_to("nowhere")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fifo.chmod(0o600)
    owner = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name

    os.utime(data, (1764766512.25, 1764766512.25))

    found = paths_state([str(data), str(certs), str(link), str(dangling), str(fifo), "/no/such"])

    assert found[str(data)] == {
        "type": "file",
        "mode": "0640",
        "owner": owner,
        "group": group,
        "mtime": 1764766512.25,
        "sha256": hashlib.sha256(b'{"hosts": []}\n').hexdigest(),
    }
    assert found[str(certs)] == {
        "type": "directory",
        "mode": "2750",
        "owner": owner,
        "group": group,
        "mtime": os.lstat(certs).st_mtime,
    }
    assert found[str(link)]["type"] == "link"
    assert found[str(link)]["target"] == "certs"
    assert "sha256" not in found[str(link)]
    assert found[str(dangling)]["type"] == "link"
    assert found[str(fifo)]["type"] == "other"
    assert found[str(fifo)]["mode"] == "0600"
    assert "/no/such" not in found


def test_writable_state_reads_without_writing(tmp_path: Path) -> None:
    sysctl = tmp_path / "disable_ipv6"
    sysctl.write_text("0\n")
    before = sysctl.stat()

    found = writable_state([str(sysctl), str(tmp_path), str(tmp_path / "absent")])

    assert found == {str(sysctl): True, str(tmp_path): True}
    after = sysctl.stat()
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)
    assert sysctl.read_text() == "0\n"


def test_writable_state_read_only_mount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A read-only mount (/proc/sys in a container) answers access(W_OK) with EROFS, even for root.
    sysctl = tmp_path / "proc" / "sys" / "net" / "ipv6" / "conf" / "all" / "disable_ipv6"
    sysctl.parent.mkdir(parents=True)
    sysctl.write_text("0\n")
    other = tmp_path / "other"
    other.write_text("")
    asked = []

    def access(path: str, mode: int) -> bool:
        asked.append((path, mode))
        return not path.startswith(str(tmp_path / "proc" / "sys"))

    monkeypatch.setattr(host_state_info.os, "access", access)
    assert writable_state([str(sysctl), str(other)]) == {str(sysctl): False, str(other): True}
    assert asked == [(str(sysctl), os.W_OK), (str(other), os.W_OK)]


def test_writable_state_dangling_link_is_listed(tmp_path: Path) -> None:
    dangling = tmp_path / "dangling"
    dangling.symlink_to("nowhere")
    # lexists: the link is there; access follows it to nothing, so it is not writable
    assert writable_state([str(dangling)]) == {str(dangling): False}


class FakeDpkg:
    def __init__(self, out: str, rc: int = 0, err: str = "") -> None:
        self.calls: list[list[str]] = []
        self.reply = (rc, out, err)

    def __call__(self, argv: list) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        return self.reply


DPKG_OUT = (
    "docker.io\t20.10.24+dfsg1-1+deb12u1\tii \tinstall\n"
    "containerd\t1.6.20~ds1-1+b1\thi \thold\n"
    "runc\t\trc \tdeinstall\n"
    "unasked\t1.0\tii \tinstall\n"
)


def test_packages_one_call_with_patterns() -> None:
    dpkg = FakeDpkg(DPKG_OUT, rc=1, err="dpkg-query: no packages found matching nosuch\n")
    specs = [
        {"name": "docker.io", "version": "20.10.*"},
        {"name": "containerd", "version": "1.7.*"},
        {"name": "runc", "version": ""},
        {"name": "nosuch", "version": ""},
    ]

    found = packages_state(specs, "/usr/bin/dpkg-query", dpkg)

    assert dpkg.calls == [
        [
            "/usr/bin/dpkg-query",
            "-W",
            "-f",
            DPKG_FIELDS,
            "docker.io",
            "containerd",
            "runc",
            "nosuch",
        ]
    ]
    assert found == {
        "docker.io": {
            "version": "20.10.24+dfsg1-1+deb12u1",
            "status": "ii",
            "selection": "install",
            "version_matches": True,
        },
        "containerd": {
            "version": "1.6.20~ds1-1+b1",
            "status": "hi",
            "selection": "hold",
            "version_matches": False,
        },
        "runc": {"version": "", "status": "rc", "selection": "deinstall", "version_matches": True},
    }


def test_packages_pattern_is_case_sensitive_and_whole() -> None:
    dpkg = FakeDpkg("docker.io\t20.10.24\tii \tinstall\n")
    found = packages_state([{"name": "docker.io", "version": "20.10"}], "dpkg-query", dpkg)
    assert found["docker.io"]["version_matches"] is False


def test_packages_without_dpkg_or_names() -> None:
    dpkg = FakeDpkg(DPKG_OUT)
    assert packages_state([{"name": "docker.io", "version": ""}], None, dpkg) == {}
    assert packages_state([], "/usr/bin/dpkg-query", dpkg) == {}
    assert dpkg.calls == []


def test_commands_state(tmp_path: Path) -> None:
    tool = tmp_path / "mytool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    plain = tmp_path / "plain"
    plain.write_text("not executable")
    plain.chmod(0o644)

    found = commands_state(["mytool", "plain", "sh", "no-such-command-here"], str(tmp_path))

    assert found["mytool"] == str(tool)
    assert found["plain"] is None
    # sh is found in the directories searched after PATH even with an empty PATH.
    assert commands_state(["sh"], "")["sh"] in ("/usr/bin/sh", "/bin/sh")
    assert os.path.isabs(found["sh"])
    assert found["no-such-command-here"] is None


def test_python_modules_state() -> None:
    before = set(sys.modules)
    found = python_modules_state(["json", "os.path", "no_such_module_xyz", "json.no_such_sub"])
    assert found == {
        "json": True,
        "os.path": True,
        "no_such_module_xyz": False,
        "json.no_such_sub": False,
    }
    assert "no_such_module_xyz" not in set(sys.modules) - before


def test_nofile_raisable_when_hard_limit_is_high_enough() -> None:
    calls = []
    assert nofile_raisable(lambda _r: (1024, 1048576), lambda *a: calls.append(a)) is True
    assert nofile_raisable(lambda _r: (1024, resource.RLIM_INFINITY), calls.append) is True
    assert calls == []


def test_nofile_raisable_tries_and_restores() -> None:
    calls = []

    def setrlimit(which: int, limits: tuple[int, int]) -> None:
        calls.append(limits)

    assert nofile_raisable(lambda _r: (1024, 20000), setrlimit) is True
    assert calls == [(1048576, 1048576), (1024, 20000)]


def test_nofile_not_raisable_without_the_capability() -> None:
    def setrlimit(which: int, limits: tuple[int, int]) -> None:
        raise ValueError("not allowed to raise maximum limit")

    assert nofile_raisable(lambda _r: (1024, 20000), setrlimit) is False


def test_nofile_raisable_leaves_the_process_limit_alone() -> None:
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    nofile_raisable()
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before


def test_main_end_to_end(run_module, tmp_path: Path, fake_engine, short_dir: str) -> None:
    config = tmp_path / "daemon.json"
    config.write_text("{}\n")
    config.chmod(0o644)
    pidfile = tmp_path / "docker.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    with open("/proc/self/comm") as handle:
        own_comm = handle.read().strip()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        rc, result = run_module(
            host_state_info.main,
            {
                "paths": [str(config), str(tmp_path / "absent")],
                "writable": [str(config), str(tmp_path / "absent")],
                "packages": [{"name": "accountservice-no-such-package"}],
                "port": port,
                "docker_socket": fake_engine.path,
                "pidfile": str(pidfile),
                "engine_pidfile": str(pidfile),
                "engine_config": [str(config)],
                "commands": ["sh", "no-such-command-here"],
                "python_modules": ["json", "no_such_module_xyz"],
            },
        )
    finally:
        listener.close()

    assert rc == 0
    assert result["changed"] is False
    assert result["port_owners"] == [own_comm]
    assert result["engine_answers"] is True
    assert fake_engine.paths() == ["/_ping"]
    assert result["pidfile_dockerd"] is False
    assert result["engine_started"] is None
    assert result["engine_config_not_loaded"] == []
    assert result["engine_binary_replaced"] is None
    assert result["paths"] == {
        str(config): {
            "type": "file",
            "mode": "0644",
            "owner": pwd.getpwuid(os.getuid()).pw_name,
            "group": grp.getgrgid(os.getgid()).gr_name,
            "mtime": config.stat().st_mtime,
            "sha256": hashlib.sha256(b"{}\n").hexdigest(),
        }
    }
    assert result["writable"] == {str(config): True}
    assert result["packages"] == {}
    assert os.path.isabs(result["commands"]["sh"])
    assert result["commands"]["no-such-command-here"] is None
    assert result["python_modules"] == {"json": True, "no_such_module_xyz": False}
    assert isinstance(result["nofile_raisable"], bool)


def test_main_leaves_out_what_was_not_asked(run_module, short_dir: str) -> None:
    rc, result = run_module(
        host_state_info.main, {"docker_socket": os.path.join(short_dir, "absent.sock")}
    )
    assert rc == 0
    assert result["engine_answers"] is False
    assert "port_owners" not in result
    assert "pidfile_dockerd" not in result
    assert "engine_started" not in result
    assert result["paths"] == {}
    assert result["writable"] == {}
    assert result["packages"] == {}
    assert result["commands"] == {}
    assert result["python_modules"] == {}


def test_main_rejects_a_package_without_name(run_module) -> None:
    rc, result = run_module(host_state_info.main, {"packages": [{"version": "1.*"}]})
    assert rc == 1
    assert result["failed"] is True
    assert "name" in result["msg"]


def test_mode_string_has_four_digits(tmp_path: Path) -> None:
    target = tmp_path / "setuid"
    target.write_text("")
    target.chmod(stat.S_ISUID | 0o755)
    assert paths_state([str(target)])[str(target)]["mode"] == "4755"
