"""Print the command name of every process listening on a TCP port, one a line."""

import os
import sys

LISTEN = "0A"


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


def owners(inodes):
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
    return names


def main():
    inodes = listening_inodes(int(sys.argv[1]))
    if not inodes:
        return 0
    found = owners(inodes)
    # A listener whose process cannot be seen (another namespace) is still a listener.
    for name in sorted(found) or ["an unknown process"]:
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
