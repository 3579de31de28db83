from __future__ import annotations

import gzip
import os
import shlex
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.accountservice.swarm.plugins.modules import kernel_features_info
from ansible_collections.accountservice.swarm.plugins.modules.kernel_features_info import (
    IPSEC_MISSING_TOOLS,
    IPSEC_SUPPORTED,
    features_report,
    ipsec_support,
    ipvs_support,
)

RELEASE = "6.1.0-28-amd64"
MODULE = f"/lib/modules/{RELEASE}/kernel/net/netfilter/ipvs/ip_vs.ko.xz"
CONFIG_NOISE = "CONFIG_NETFILTER=y\nCONFIG_IP_VS_IPV6=y\n"


def make_root(
    tmp_path: Path,
    *,
    loaded: bool = False,
    boot: str | None = None,
    proc_gz: bytes | str | None = None,
    module: bool = False,
) -> str:
    (tmp_path / "proc" / "net").mkdir(parents=True)
    (tmp_path / "boot").mkdir()
    modules = tmp_path / "lib" / "modules" / RELEASE / "kernel" / "net" / "netfilter" / "ipvs"
    modules.mkdir(parents=True)
    # Other IPVS modules do not count: only ip_vs.ko* itself.
    (modules / "ip_vs_rr.ko.xz").write_bytes(b"")
    if loaded:
        (tmp_path / "proc" / "net" / "ip_vs").write_text("IP Virtual Server version 1.2.1\n")
    if boot is not None:
        (tmp_path / "boot" / f"config-{RELEASE}").write_text(boot)
    if isinstance(proc_gz, str):
        (tmp_path / "proc" / "config.gz").write_bytes(gzip.compress(proc_gz.encode()))
    elif proc_gz is not None:
        (tmp_path / "proc" / "config.gz").write_bytes(proc_gz)
    if module:
        (modules / "ip_vs.ko.xz").write_bytes(b"")
    return str(tmp_path)


NOT_SET = "# CONFIG_IP_VS is not set\n"
NO_EVIDENCE = (
    f"no /proc/net/ip_vs, no readable kernel config, no ip_vs module in /lib/modules/{RELEASE}"
)

# Case: (what make_root puts on the host, what ipvs_support answers).
IPVS_CASES: dict[str, tuple[dict[str, Any], tuple[bool, str]]] = {
    "loaded_wins_over_everything": (
        {"loaded": True, "boot": NOT_SET},
        (True, "/proc/net/ip_vs exists (ip_vs is loaded)"),
    ),
    "built_in": (
        {"boot": CONFIG_NOISE + "CONFIG_IP_VS=y\n"},
        (True, f"/boot/config-{RELEASE}: CONFIG_IP_VS=y"),
    ),
    "module_with_file": (
        {"boot": CONFIG_NOISE + "CONFIG_IP_VS=m\n", "module": True},
        (True, f"/boot/config-{RELEASE}: CONFIG_IP_VS=m, module {MODULE}"),
    ),
    "module_without_file": (
        {"boot": "CONFIG_IP_VS=m\n"},
        (
            False,
            f"/boot/config-{RELEASE}: CONFIG_IP_VS=m but no ip_vs module in /lib/modules/{RELEASE}",
        ),
    ),
    "not_set": (
        {"boot": CONFIG_NOISE + NOT_SET, "module": True},
        (False, f"/boot/config-{RELEASE}: CONFIG_IP_VS is not set"),
    ),
    "proc_config_gz_is_read_before_boot": (
        {"proc_gz": CONFIG_NOISE + NOT_SET, "boot": "CONFIG_IP_VS=y\n"},
        (False, "/proc/config.gz: CONFIG_IP_VS is not set"),
    ),
    "proc_config_gz_module": (
        {"proc_gz": "CONFIG_IP_VS=m\n", "module": True},
        (True, f"/proc/config.gz: CONFIG_IP_VS=m, module {MODULE}"),
    ),
    # As the script: once /proc/config.gz is there, /boot is not read, even if zcat fails.
    "unreadable_config_gz_with_module": (
        {"proc_gz": b"not gzip at all", "boot": "CONFIG_IP_VS=y\n", "module": True},
        (True, f"module {MODULE} (kernel config not readable)"),
    ),
    "no_config_and_no_module": ({}, (False, NO_EVIDENCE)),
    "no_config_with_module": (
        {"module": True},
        (True, f"module {MODULE} (kernel config not readable)"),
    ),
}


@pytest.mark.parametrize(("host", "expected"), IPVS_CASES.values(), ids=list(IPVS_CASES))
def test_ipvs_support(tmp_path: Path, host: dict[str, Any], expected: tuple[bool, str]) -> None:
    assert ipvs_support(RELEASE, make_root(tmp_path, **host)) == expected


def test_config_without_ip_vs_line_counts_as_unreadable(tmp_path: Path) -> None:
    root = make_root(tmp_path, boot=CONFIG_NOISE)
    supported, reason = ipvs_support(RELEASE, root)
    assert supported is False
    assert reason.startswith("no /proc/net/ip_vs, no readable kernel config")


def test_no_modules_directory_at_all(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    assert ipvs_support(RELEASE, str(tmp_path))[0] is False


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_boot_config(tmp_path: Path) -> None:
    root = make_root(tmp_path, boot="CONFIG_IP_VS=y\n", module=True)
    os.chmod(tmp_path / "boot" / f"config-{RELEASE}", 0)
    assert ipvs_support(RELEASE, root) == (True, f"module {MODULE} (kernel config not readable)")


class FakeRunner:
    def __init__(self, rc: int, err: str = "") -> None:
        self.reply = (rc, "", err)
        self.calls: list[list[str]] = []

    def __call__(self, argv: list) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        return self.reply


def bin_path_with(*names: str):
    return lambda name: f"/usr/sbin/{name}" if name in names else None


def test_ipsec_supported() -> None:
    runner = FakeRunner(0)
    assert ipsec_support(runner, bin_path_with("unshare", "ip")) == (True, IPSEC_SUPPORTED)
    # The command as a person would type it, written out apart from IPSEC_ARGS.
    assert runner.calls == [
        shlex.split(
            "/usr/sbin/unshare --net /usr/sbin/ip xfrm state add src 192.0.2.1 dst 192.0.2.2"
            " proto esp spi 0x100 mode transport"
            " aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 64"
        )
    ]


@pytest.mark.parametrize(
    ("err", "reason"),
    [
        (
            "Error: Requested AEAD algorithm not found.\n",
            "Error: Requested AEAD algorithm not found",
        ),
        (
            "unshare: unshare failed: Operation not permitted\n",
            "unshare: unshare failed: Operation not permitted",
        ),
        (
            "  RTNETLINK answers: Protocol not supported  \n",
            "RTNETLINK answers: Protocol not supported",
        ),
    ],
)
def test_ipsec_refused(err: str, reason: str) -> None:
    assert ipsec_support(FakeRunner(2, err), bin_path_with("unshare", "ip")) == (False, reason)


def test_ipsec_refused_without_stderr() -> None:
    supported, reason = ipsec_support(FakeRunner(1), bin_path_with("unshare", "ip"))
    assert supported is False
    assert "1" in reason


@pytest.mark.parametrize("present", [("unshare",), ("ip",), ()])
def test_ipsec_missing_commands(present: tuple[str, ...]) -> None:
    runner = FakeRunner(0)
    assert ipsec_support(runner, bin_path_with(*present)) == (False, IPSEC_MISSING_TOOLS)
    assert runner.calls == []


def test_features_report_only_what_was_asked(tmp_path: Path) -> None:
    root = make_root(tmp_path, boot="CONFIG_IP_VS=y\n")
    runner = FakeRunner(0)
    report = features_report(["ipvs"], RELEASE, runner, bin_path_with("unshare", "ip"), root)
    assert report == {
        "ipvs": {"supported": True, "reason": f"/boot/config-{RELEASE}: CONFIG_IP_VS=y"}
    }
    assert runner.calls == []
    both = features_report(
        ["ipsec", "ipvs", "ipsec"], RELEASE, runner, bin_path_with("unshare", "ip"), root
    )
    assert list(both) == ["ipsec", "ipvs"]
    assert both["ipsec"] == {"supported": True, "reason": IPSEC_SUPPORTED}
    assert len(runner.calls) == 1


def test_main_default_is_ipvs(run_module) -> None:
    rc, result = run_module(kernel_features_info.main, {})
    assert rc == 0
    assert result["changed"] is False
    assert result["kernel"] == os.uname().release
    assert list(result["features"]) == ["ipvs"]
    assert isinstance(result["features"]["ipvs"]["supported"], bool)
    assert result["features"]["ipvs"]["reason"]


def test_main_rejects_unknown_feature(run_module) -> None:
    rc, result = run_module(kernel_features_info.main, {"features": ["vxlan"]})
    assert rc == 1
    assert "vxlan" in result["msg"]
