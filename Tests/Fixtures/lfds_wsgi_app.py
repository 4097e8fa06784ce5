"""A WSGI app for gunicorn under an inetd `wait,listen-fds` line.

Run it with `gunicorn --preload`: the module is then imported by gunicorn's
master before the master reads LISTEN_FDS and LISTEN_PID (and unsets them),
so the `import.*` values are what the process inetd started found.

Each response is `key=value` lines, then `end`:

    worker                 the worker that answered (os.getpid())
    master                 its parent, gunicorn's master (os.getppid())
    import.pid             the process that imported this module
    import.listen_pid      LISTEN_PID at import (`-` when unset)
    import.listen_fds      LISTEN_FDS at import
    import.listen_fdnames  LISTEN_FDNAMES at import
    request.listen_pid     LISTEN_PID in the worker now (gunicorn unset it)
    server                 SERVER_NAME:SERVER_PORT as gunicorn reports them
"""
import os

IMPORT_PID = os.getpid()
IMPORT_LISTEN_PID = os.environ.get("LISTEN_PID", "-")
IMPORT_LISTEN_FDS = os.environ.get("LISTEN_FDS", "-")
IMPORT_LISTEN_FDNAMES = os.environ.get("LISTEN_FDNAMES", "-")


def app(environ, start_response):
    lines = [
        "worker=%d" % os.getpid(),
        "master=%d" % os.getppid(),
        "import.pid=%d" % IMPORT_PID,
        "import.listen_pid=%s" % IMPORT_LISTEN_PID,
        "import.listen_fds=%s" % IMPORT_LISTEN_FDS,
        "import.listen_fdnames=%s" % IMPORT_LISTEN_FDNAMES,
        "request.listen_pid=%s" % os.environ.get("LISTEN_PID", "-"),
        "server=%s:%s" % (environ.get("SERVER_NAME", "?"), environ.get("SERVER_PORT", "?")),
        "end",
    ]
    body = ("\n".join(lines) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
