#!/usr/bin/env python3
"""A server written to sd_listen_fds(3), as an inetd `wait,listen-fds` line
(or systemd, or any launcher of that protocol) starts it.

    sd_listen_fds_server.py [N]

It takes its sockets as the man page says: only when LISTEN_PID is its own
pid; then LISTEN_FDS descriptors from fd 3 (SD_LISTEN_FDS_START), named by
LISTEN_FDNAMES; it marks them close-on-exec and unsets the three variables,
as sd_listen_fds(1) does. It checks each one as sd_is_socket(fd, AF_UNSPEC,
SOCK_STREAM, 1) would (a socket, a stream, listening) and records whether it
is in blocking mode. Then it serves N connections (1) on whichever listener
they arrive, and exits 0.

To each client it writes what it found, as `key=value` lines (the inherited
environment as `env=NAME=value`), then `end`:

    pid, ppid                 its own and its parent's
    listen_pid, listen_fds, listen_fdnames
                              the variables as inherited (`-` when unset)
    listen_pid_matches        1 when LISTEN_PID is its pid
    fds                       every descriptor open at start, before any other
    fd.0.devnull              1 when fd 0 is /dev/null (same device and inode)
    fd.1.link, fd.2.link      what fds 1 and 2 are (/proc/self/fd)
    fd.N.issock, .stream, .acceptconn, .nonblock, .cloexec, .family, .local
                              for each N from 3 to 3+LISTEN_FDS-1, as inherited
    served.fd, served.count, served.peer
                              which listener took this client, how many
                              clients so far, the client's address

A descriptor that fails the checks is reported and not served. With no
socket to serve, it says why on stderr and exits 4.
"""
import fcntl
import os
import select
import socket
import stat
import sys

SD_LISTEN_FDS_START = 3


def open_descriptors():
    """Descriptors open now; opens none to find out (no /proc listing)."""
    found = []
    for fd in range(1024):
        try:
            fcntl.fcntl(fd, fcntl.F_GETFD)
        except OSError:
            continue
        found.append(fd)
    return found


def family_name(family):
    return {socket.AF_INET: "inet", socket.AF_INET6: "inet6", socket.AF_UNIX: "unix"}.get(family, str(family))


def address_text(family, address):
    if family == socket.AF_INET:
        return "%s:%d" % address[:2]
    if family == socket.AF_INET6:
        return "[%s]:%d" % address[:2]
    if isinstance(address, bytes):
        address = address.decode("utf-8", "replace")
    return str(address)


def inspect(fd):
    """sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1), field by field."""
    facts = {}
    try:
        mode = os.fstat(fd).st_mode
    except OSError as error:
        return {"error": error.strerror}
    facts["issock"] = int(stat.S_ISSOCK(mode))
    facts["nonblock"] = int(bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK))
    facts["cloexec"] = int(bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC))
    if not facts["issock"]:
        return facts
    # A socket object on a duplicate, so that the check changes nothing on
    # fd itself (the duplicate shares the file description, not the flags).
    probe = socket.socket(fileno=os.dup(fd))
    try:
        facts["stream"] = int(probe.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM)
        facts["acceptconn"] = probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        facts["family"] = family_name(probe.family)
        facts["local"] = address_text(probe.family, probe.getsockname())
    finally:
        probe.close()
    return facts


def main():
    wanted = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    fds_at_start = open_descriptors()
    env = dict(os.environ)
    listen_pid = env.get("LISTEN_PID", "-")
    listen_fds = env.get("LISTEN_FDS", "-")
    listen_fdnames = env.get("LISTEN_FDNAMES", "-")

    # sd_listen_fds(3): nothing is ours unless LISTEN_PID names us.
    matches = listen_pid == str(os.getpid())
    count = int(listen_fds) if matches and listen_fds.isdigit() else 0
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)

    lines = [
        "pid=%d" % os.getpid(),
        "ppid=%d" % os.getppid(),
        "listen_pid=%s" % listen_pid,
        "listen_fds=%s" % listen_fds,
        "listen_fdnames=%s" % listen_fdnames,
        "listen_pid_matches=%d" % int(matches),
        "fds=%s" % ",".join(str(fd) for fd in fds_at_start),
    ]
    null, zero = os.stat("/dev/null"), os.fstat(0)
    lines.append("fd.0.devnull=%d" % int((zero.st_dev, zero.st_ino) == (null.st_dev, null.st_ino)))
    for fd in (1, 2):
        try:
            lines.append("fd.%d.link=%s" % (fd, os.readlink("/proc/self/fd/%d" % fd)))
        except OSError as error:
            lines.append("fd.%d.link=error %s" % (fd, error.strerror))

    listeners = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        facts = inspect(fd)
        for key, value in facts.items():
            lines.append("fd.%d.%s=%s" % (fd, key, value))
        if facts.get("issock") and facts.get("stream") and facts.get("acceptconn") == 1:
            # The rest of sd_listen_fds(3): close-on-exec from here on.
            fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.fcntl(fd, fcntl.F_GETFD) | fcntl.FD_CLOEXEC)
            listeners.append(fd)
    lines += ["env=%s=%s" % item for item in sorted(env.items())]

    if not listeners:
        sys.stderr.write("sd_listen_fds_server: no listening stream socket (LISTEN_PID=%s, LISTEN_FDS=%s, pid %d)\n"
                         % (listen_pid, listen_fds, os.getpid()))
        return 4

    sockets = {fd: socket.socket(fileno=fd) for fd in listeners}
    poller = select.poll()
    for fd in listeners:
        poller.register(fd, select.POLLIN)
    served = 0
    while served < wanted:
        for fd, _ in poller.poll():
            if served == wanted:
                break
            connection, peer = sockets[fd].accept()
            served += 1
            text = "\n".join(lines + [
                "served.fd=%d" % fd,
                "served.count=%d" % served,
                "served.peer=%s" % address_text(connection.family, peer),
                "end",
            ]) + "\n"
            connection.sendall(text.encode())
            connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
