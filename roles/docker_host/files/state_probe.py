"""Read, in one pass and without changing anything, the state docker_host manages.

Run on a host (by ansible.builtin.script) and on the controller. One call
instead of a module per file, package and check keeps a run that has nothing to
do short; the role still changes things with its modules, and only where this
state differs from what it wants. Prints one JSON object:

  nofile_raisable  whether `ulimit -n 1048576` works here (CAP_SYS_RESOURCE)
  docker_cli       whether a docker command is on PATH
  port_owners      command names of the processes listening on --port
  pidfile_running  whether --pidfile names a running dockerd
  engine_answers   whether the engine answers _ping on --socket
  packages         per --package NAME[=PATTERN] that dpkg knows: version, status,
                   selection ("install", "hold") and whether the version matches
  paths            per existing --path: type, mode, owner, group, sha256 of a file
  pki              with --pki: whether the CA and client certificate, and the
                   server certificate, are as the role makes them and valid for
                   --renew-days more days

Python 3.6+ standard library only, except `cryptography` for --pki (the
controller has it: community.crypto needs it).
"""

import argparse
import datetime
import fnmatch
import grp
import hashlib
import json
import os
import pwd
import resource
import shutil
import socket
import stat
import subprocess
import sys

LISTEN = "0A"
FIELDS = "${Package}\t${Version}\t${db:Status-Abbrev}\t${db:Status-Want}\n"
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/usr/local/bin"])


def listening_inodes(port):
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    local_port = int(fields[1].rsplit(":", 1)[1], 16)
                    if local_port == port and fields[3] == LISTEN:
                        inodes.add(fields[9])
        except OSError:
            continue
    return inodes


def port_owners(port):
    inodes = listening_inodes(port)
    if not inodes:
        return []
    names = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fd_dir = f"/proc/{pid}/fd"
        try:
            links = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
            with open(f"/proc/{pid}/comm") as handle:
                comm = handle.read().strip()
        except OSError:
            continue
        if any(link.startswith("socket:[") and link[8:-1] in inodes for link in links):
            names.add(comm)
    # A listener whose process cannot be seen (another namespace) is still a listener.
    return sorted(names) or ["an unknown process"]


def nofile_raisable():
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1048576, 1048576))
    except (ValueError, OSError):
        return False
    return True


def pidfile_running(path):
    try:
        with open(path) as handle:
            pid = int(handle.read().strip())
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip() == "dockerd"
    except (OSError, ValueError):
        return False


def engine_answers(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(path)
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return False
    status_line = reply.split(b"\r\n", 1)[0]
    return status_line.startswith(b"HTTP/1.") and b" 200 " in status_line and reply.endswith(b"OK")


def packages(specs):
    wanted = dict([*spec.split("=", 1), ""][:2] for spec in specs)
    if not wanted or not shutil.which("dpkg-query"):
        return {}
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", FIELDS, *wanted],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=False,
    )
    found = {}
    for line in result.stdout.splitlines():
        name, version, status, want = [*line.split("\t"), "", "", ""][:4]
        pattern = wanted.get(name)
        if pattern is None:
            continue
        found[name] = {
            "version": version,
            "status": status.strip(),
            "selection": want,
            "matches": not pattern or fnmatch.fnmatchcase(version, pattern),
        }
    return found


def path_state(path):
    try:
        info = os.lstat(path)
    except OSError:
        return None
    kind = "other"
    if stat.S_ISREG(info.st_mode):
        kind = "file"
    elif stat.S_ISDIR(info.st_mode):
        kind = "directory"
    state = {
        "type": kind,
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
        "owner": name_of(pwd.getpwuid, info.st_uid),
        "group": name_of(grp.getgrgid, info.st_gid),
    }
    if kind == "file":
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(65536), b""):
                digest.update(block)
        state["sha256"] = digest.hexdigest()
    return state


def name_of(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def pki(certs_dir, node_dir, renew_days, server_cn, sans):
    """Whether the certificates are as tls.yml makes them; reasons when not."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (datetime.UTC needs Python 3.11)
    horizon = now + datetime.timedelta(days=renew_days)
    reasons = {"ca_client": [], "server": []}

    def load(part, name, mode, loader):
        path = os.path.join(certs_dir if part == "ca_client" else node_dir, name)
        state = path_state(path)
        if state is None or state["type"] != "file":
            reasons[part].append(name + " is missing")
            return None
        if state["mode"] != mode:
            reasons[part].append(f"{name} has mode {state['mode']}")
        try:
            with open(path, "rb") as handle:
                return loader(handle.read())
        except ValueError as error:
            reasons[part].append(f"{name} does not load: {error}")
            return None

    def key(data):
        return serialization.load_pem_private_key(data, password=None)

    def public(item):
        return item.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def check_issued(part, name, cert, cert_key):
        if cert is None or ca is None:
            return
        try:
            cert.verify_directly_issued_by(ca)
        except Exception:  # InvalidSignature, or a key type that cannot have signed it
            reasons[part].append(name + " is not signed by ca.pem")
        if cert_key is not None and public(cert) != public(cert_key):
            reasons[part].append(name + " does not match its key")
        if cert.not_valid_after_utc <= horizon:
            reasons[part].append(f"{name} expires within {renew_days} days")

    ca_key = load("ca_client", "ca-key.pem", "0600", key)
    load("ca_client", "ca.csr", "0644", x509.load_pem_x509_csr)
    ca = load("ca_client", "ca.pem", "0644", x509.load_pem_x509_certificate)
    if ca is not None and ca_key is not None and public(ca) != public(ca_key):
        reasons["ca_client"].append("ca.pem does not match ca-key.pem")
    client_key = load("ca_client", "key.pem", "0600", key)
    load("ca_client", "client.csr", "0644", x509.load_pem_x509_csr)
    client = load("ca_client", "cert.pem", "0644", x509.load_pem_x509_certificate)
    check_issued("ca_client", "cert.pem", client, client_key)

    server_key = load("server", "server-key.pem", "0600", key)
    csr = load("server", "server.csr", "0644", x509.load_pem_x509_csr)
    server = load("server", "server-cert.pem", "0644", x509.load_pem_x509_certificate)
    check_issued("server", "server-cert.pem", server, server_key)
    want = normalise_sans(sans)
    for name, item in (("server.csr", csr), ("server-cert.pem", server)):
        if item is None:
            continue
        if item_sans(item) != want:
            reasons["server"].append(name + " names other addresses or names")
        common_names = item.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if [attribute.value for attribute in common_names] != [server_cn]:
            reasons["server"].append(name + " has another common name")
    return {part: {"ok": not found, "reasons": found} for part, found in reasons.items()}


def normalise_sans(sans):
    import ipaddress

    result = set()
    for san in sans:
        kind, _, value = san.partition(":")
        if kind == "IP":
            value = ipaddress.ip_address(value).compressed
        result.add((kind, value))
    return result


def item_sans(item):
    from cryptography import x509

    try:
        extension = item.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {("DNS", name) for name in extension.get_values_for_type(x509.DNSName)} | {
        ("IP", address.compressed) for address in extension.get_values_for_type(x509.IPAddress)
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int)
    parser.add_argument("--pidfile")
    parser.add_argument("--socket")
    parser.add_argument("--package", action="append", default=[])
    parser.add_argument("--path", action="append", default=[])
    parser.add_argument("--pki", nargs=2, metavar=("CERTS_DIR", "NODE_DIR"))
    parser.add_argument("--renew-days", type=int, default=30)
    parser.add_argument("--server-cn", default="")
    parser.add_argument("--san", action="append", default=[])
    args = parser.parse_args()

    state = {
        "nofile_raisable": nofile_raisable(),
        "docker_cli": shutil.which("docker", path=SEARCH_PATH) is not None,
        "packages": packages(args.package),
    }
    found = {path: path_state(path) for path in args.path}
    state["paths"] = {path: info for path, info in found.items() if info is not None}
    if args.port is not None:
        state["port_owners"] = port_owners(args.port)
    if args.pidfile:
        state["pidfile_running"] = pidfile_running(args.pidfile)
    if args.socket:
        state["engine_answers"] = engine_answers(args.socket)
    if args.pki:
        state["pki"] = pki(args.pki[0], args.pki[1], args.renew_days, args.server_cn, args.san)
    json.dump(state, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
