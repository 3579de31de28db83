#!/usr/bin/python
# Ansible wants the imports below DOCUMENTATION, EXAMPLES and RETURN.
# ruff: noqa: E402

from __future__ import annotations

DOCUMENTATION = r"""
module: kernel_features_info
short_description: Report whether the host's kernel has what a Docker Swarm feature needs
version_added: 1.0.0
description:
  - Reports, for each requested feature, whether the kernel of the managed host supports it, and
    the evidence for the answer.
  - V(ipvs) is what the swarm's ingress routing mesh and its virtual IPs need. Without it a service
    published through the ingress network reports "converged" while nothing answers on its port.
  - V(ipsec) is what an encrypted overlay network needs (XFRM, ESP and AES-GCM).
  - Nothing on the host changes.
author:
  - accountservice maintainers (!UNKNOWN)
options:
  features:
    description:
      - The features to check.
      - V(ipvs) counts as supported when C(/proc/net/ip_vs) exists (C(ip_vs) is loaded), or the
        kernel config (C(/proc/config.gz), else C(/boot/config-RELEASE)) has C(CONFIG_IP_VS=y), or
        C(CONFIG_IP_VS=m) and an C(ip_vs.ko*) module file exists under C(/lib/modules/RELEASE),
        or, with no readable config, such a module file exists.
      - V(ipsec) adds an ESP security association with the algorithm Docker uses for encrypted
        overlays, rfc4106(gcm(aes)), with C(ip xfrm) in a throw-away network namespace
        (C(unshare --net)); it counts as supported when the kernel accepts it.
    type: list
    elements: str
    choices: [ipvs, ipsec]
    default: [ipvs]
extends_documentation_fragment:
  - accountservice.swarm.attributes
  - accountservice.swarm.attributes.info_module
requirements:
  - Linux.
  - For V(ipsec), C(unshare) (util-linux) and C(ip) (iproute2), and the privilege to create a
    network namespace (root).
"""

EXAMPLES = r"""
---
- name: Read whether the kernels support IPVS and IPsec
  accountservice.swarm.kernel_features_info:
    features: [ipvs, ipsec]
  register: swarm_node__kernel

- name: Publish in host mode where the kernel has no IPVS
  ansible.builtin.set_fact:
    edge_proxy_publish_mode: >-
      {{ 'ingress' if swarm_node__kernel.features.ipvs.supported else 'host' }}

- name: Fail early when an encrypted overlay network cannot work
  ansible.builtin.assert:
    that: swarm_node__kernel.features.ipsec.supported
    fail_msg: >-
      {{ inventory_hostname }} cannot run IPsec:
      {{ swarm_node__kernel.features.ipsec.reason }}.
"""

RETURN = r"""
kernel:
  description: The kernel release (C(uname -r)).
  returned: always
  type: str
  sample: 6.1.0-28-amd64
features:
  description: Per requested feature, whether the kernel supports it and why.
  returned: always
  type: dict
  sample:
    ipvs:
      supported: false
      reason: "/proc/config.gz: CONFIG_IP_VS is not set"
    ipsec:
      supported: true
      reason: ESP with rfc4106(gcm(aes)) accepted in a throw-away network namespace
  contains:
    supported:
      description: Whether the kernel supports the feature.
      type: bool
      returned: always
    reason:
      description: The evidence for RV(features.supported), for a person to read.
      type: str
      returned: always
"""

import fnmatch
import gzip
import os
import re
import zlib
from collections.abc import Callable

from ansible.module_utils.basic import AnsibleModule

FEATURES = ["ipvs", "ipsec"]
CONFIG_LINE = re.compile(r"^(# )?CONFIG_IP_VS[= ]")
IPSEC_ARGS = [
    "xfrm",
    "state",
    "add",
    "src",
    "192.0.2.1",
    "dst",
    "192.0.2.2",
    "proto",
    "esp",
    "spi",
    "0x100",
    "mode",
    "transport",
    "aead",
    "rfc4106(gcm(aes))",
    "0x0102030405060708090a0b0c0d0e0f1011121314",
    "64",
]
IPSEC_SUPPORTED = "ESP with rfc4106(gcm(aes)) accepted in a throw-away network namespace"
IPSEC_MISSING_TOOLS = "unshare (util-linux) or ip (iproute2) is not installed"

Runner = Callable[[list], tuple[int, str, str]]
BinPath = Callable[[str], "str | None"]


def _host_path(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def ipvs_module(release: str, root: str = "/") -> str | None:
    """The first ip_vs.ko* file under /lib/modules/RELEASE, as a path on the host."""
    top = _host_path(root, f"/lib/modules/{release}")
    for directory, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            if fnmatch.fnmatchcase(name, "ip_vs.ko*"):
                found = os.path.join(directory, name)
                return "/" + os.path.relpath(found, root)
    return None


def _first_config_line(lines) -> str:
    for line in lines:
        line = line.rstrip("\n")
        if CONFIG_LINE.match(line):
            return line
    return ""


def ipvs_config(release: str, root: str = "/") -> tuple[str, str]:
    """(source, line): the kernel config read and its CONFIG_IP_VS line ("" when none)."""
    proc_config = _host_path(root, "/proc/config.gz")
    boot_config = _host_path(root, f"/boot/config-{release}")
    if os.access(proc_config, os.R_OK):
        source = "/proc/config.gz"
        try:
            with gzip.open(proc_config, "rt", errors="replace") as handle:
                return source, _first_config_line(handle)
        except (OSError, EOFError, zlib.error):
            return source, ""
    if os.access(boot_config, os.R_OK):
        source = f"/boot/config-{release}"
        try:
            with open(boot_config, errors="replace") as handle:
                return source, _first_config_line(handle)
        except OSError:
            return source, ""
    return "", ""


def ipvs_support(release: str, root: str = "/") -> tuple[bool, str]:
    if os.path.exists(_host_path(root, "/proc/net/ip_vs")):
        return True, "/proc/net/ip_vs exists (ip_vs is loaded)"
    source, line = ipvs_config(release, root)
    if line == "CONFIG_IP_VS=y":
        return True, f"{source}: CONFIG_IP_VS=y"
    module = ipvs_module(release, root)
    if line == "CONFIG_IP_VS=m":
        if module:
            return True, f"{source}: CONFIG_IP_VS=m, module {module}"
        return False, f"{source}: CONFIG_IP_VS=m but no ip_vs module in /lib/modules/{release}"
    if line == "# CONFIG_IP_VS is not set":
        return False, f"{source}: CONFIG_IP_VS is not set"
    if module:
        return True, f"module {module} (kernel config not readable)"
    return False, (
        f"no /proc/net/ip_vs, no readable kernel config, no ip_vs module in /lib/modules/{release}"
    )


def ipsec_support(run: Runner, bin_path: BinPath) -> tuple[bool, str]:
    unshare = bin_path("unshare")
    ip = bin_path("ip")
    if not unshare or not ip:
        return False, IPSEC_MISSING_TOOLS
    argv = [unshare, "--net", ip, *IPSEC_ARGS]
    rc, _out, err = run(argv)
    if rc == 0:
        return True, IPSEC_SUPPORTED
    reason = err.strip()
    if reason.endswith("."):
        reason = reason[:-1]
    return False, reason or f"unshare --net ip xfrm state add ... exited with {rc}"


def features_report(
    features: list[str], release: str, run: Runner, bin_path: BinPath, root: str = "/"
) -> dict[str, dict[str, object]]:
    report: dict[str, dict[str, object]] = {}
    for feature in features:
        if feature in report:
            continue
        if feature == "ipvs":
            supported, reason = ipvs_support(release, root)
        elif feature == "ipsec":
            supported, reason = ipsec_support(run, bin_path)
        else:
            raise ValueError(f"unknown feature {feature}")
        report[feature] = {"supported": supported, "reason": reason}
    return report


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            features=dict(type="list", elements="str", choices=FEATURES, default=["ipvs"]),
        ),
        supports_check_mode=True,
    )

    def run(argv: list) -> tuple[int, str, str]:
        return module.run_command(argv, expand_user_and_vars=False, environ_update={"LC_ALL": "C"})

    def bin_path(name: str) -> str | None:
        return module.get_bin_path(name)

    release = os.uname().release
    features = features_report(module.params["features"], release, run, bin_path)
    module.exit_json(changed=False, kernel=release, features=features)


if __name__ == "__main__":
    main()
