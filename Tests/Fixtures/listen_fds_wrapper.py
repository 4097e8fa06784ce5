#!/usr/bin/env python3
"""listen_fds_wrapper: hands a program listening sockets the way systemd's
socket units, an fd holder or a previous inetd hand them to inetd
(sd_listen_fds(3)), in one exec: binds and listens, puts the sockets on
fds 3, 4, ..., sets LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (its own
pid, which exec keeps) and execs the command.

usage: listen_fds_wrapper.py [option...] -- COMMAND [ARG...]

  --listen KIND:ADDRESS=NAME  a socket, in order from fd 3: KIND is tcp4
                     (127.0.0.1:7007), tcp6 (IPV6_V6ONLY, [::1]:7007), tcp46
                     (dual stack) or unix (/path); NAME goes in LISTEN_FDNAMES
  --early NAME:LINE:OUT  before the exec, a client connects to the socket
                     NAME, sends LINE and a newline, and writes the first
                     line it reads back (or "error: ...") to the file OUT.
                     It is a grandchild that the wrapper does not wait for,
                     so it is never the exec'd program's child.
  --record FILE      writes "NAME INODE" for each socket to FILE
  --count N          LISTEN_FDS=N whatever the number of sockets
  --user NAME        after binding, drop to NAME (its uid and gid, no
                     supplementary groups) before the exec

The fds from 3 up to 3 + the number of sockets must be free: the caller
puts its own descriptors higher.
"""
import fcntl
import os
import pwd
import signal
import socket
import sys

FIRST_FD = 3


def parse(argv):
    options = {"listen": [], "early": None, "record": None, "count": None, "user": None}
    while argv and argv[0] != "--":
        flag, value, argv = argv[0], argv[1], argv[2:]
        key = flag.lstrip("-")
        if key == "listen":
            options["listen"].append(value)
        elif key in options:
            options[key] = value
        else:
            sys.exit(f"listen_fds_wrapper: unknown option {flag}")
    if not argv:
        sys.exit("listen_fds_wrapper: no command after --")
    return options, argv[1:]


def make_socket(spec):
    kind, _, rest = spec.partition(":")
    address, _, name = rest.rpartition("=")
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(address)
        target = address
    else:
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET if kind == "tcp4" else socket.AF_INET6
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if kind == "tcp6" else 0)
        sock.bind((host, int(port)))
        target = (host, int(port))
    sock.listen(16)
    return sock, name, target


def early_client(family, target, line, out):
    """Connects from a grandchild; returns once it has connected and sent."""
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:
        if os.fork() != 0:
            os._exit(0)
        # Nothing of the wrapper's: not the listeners, not the caller's
        # descriptors (a readiness pipe whose end must close with inetd's).
        for fd in range(FIRST_FD, 1024):
            if fd != ready_write:
                try:
                    os.close(fd)
                except OSError:
                    pass
        try:
            client = socket.socket(family, socket.SOCK_STREAM)
            client.settimeout(20)
            client.connect(target)
            client.sendall(line.encode() + b"\n")
            os.write(ready_write, b"1")
            os.close(ready_write)
            got = b""
            while not got.endswith(b"\n"):
                chunk = client.recv(4096)
                if not chunk:
                    break
                got += chunk
            text = got.decode(errors="replace")
        except OSError as error:
            text = f"error: {error}\n"
        with open(out + ".part", "w") as f:
            f.write(text)
        os.rename(out + ".part", out)
        os._exit(0)
    os.close(ready_write)
    os.waitpid(child, 0)
    ok = os.read(ready_read, 1) == b"1"
    os.close(ready_read)
    if not ok:
        sys.exit("listen_fds_wrapper: the early client could not connect")


def main():
    options, command = parse(sys.argv[1:])
    made = [make_socket(spec) for spec in options["listen"]]
    if options["record"]:
        with open(options["record"], "w") as f:
            for sock, name, _ in made:
                f.write(f"{name} {os.fstat(sock.fileno()).st_ino}\n")
    if options["early"]:
        wanted, line, out = options["early"].split(":", 2)
        sock, _, target = next(m for m in made if m[1] == wanted)
        early_client(sock.family, target, line, out)
    # Out of the way first, then into place: a socket may already sit on
    # the descriptor another one is going to.
    high = [fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, 200) for sock, _, _ in made]
    for sock, _, _ in made:
        sock.close()
    for index, fd in enumerate(high):
        os.dup2(fd, FIRST_FD + index, inheritable=True)
        os.close(fd)
    if options["user"]:
        entry = pwd.getpwnam(options["user"])
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    os.environ["LISTEN_FDS"] = options["count"] or str(len(made))
    os.environ["LISTEN_FDNAMES"] = ":".join(name for _, name, _ in made)
    os.environ["LISTEN_PID"] = str(os.getpid())
    # The test runner's threads block or ignore signals that a program
    # started from them would inherit.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for number in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(number, signal.SIG_DFL)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
