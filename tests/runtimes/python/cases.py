"""Python fixture for tests/tests/runtime_python.rs: runs one suite of cases
under `rampart run` and reports each case's outcome.

    python3 -I -B cases.py SUITE CONFIG_JSON

For every case it writes `@@case NAME` to stderr with one write(2) (so the
test can tell which rampart event lines belong to which case: a block line
is written before the denied call returns, and children write theirs before
they exit, which is before the case ends), then runs the case and prints
one JSON object on stdout: {"case": NAME, "pid": PID, ...what happened}.

Every module a case needs is imported here, at the top: a lazy import
inside a case would open files under the case's marker (allowed ones, but
profile mode reports every distinct open).
"""

import json
import multiprocessing
import os
import pathlib
import socket
import subprocess
import sys

SUITE = sys.argv[1]
CFG = json.loads(sys.argv[2])
ROOT = CFG["root"]
ALLOWED = os.path.join(ROOT, "allowed")
SECRET = os.path.join(ROOT, "secret")
RO = os.path.join(ROOT, "ro")
PY = sys.executable

CASES = []


def case(*suites):
    def register(fn):
        for s in suites:
            CASES.append((s, fn.__name__, fn))
        return fn

    return register


def err(e):
    """What the language raised, for the test to compare exactly."""
    out = {"error": type(e).__name__}
    if isinstance(e, OSError):
        out["errno"] = e.errno
        out["filename"] = e.filename
    else:
        out["message"] = str(e)
    return out


def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except Exception as e:  # noqa: BLE001 - the test asserts the exact type
        return {"ok": False, **err(e)}


def read(path):
    with open(path) as f:
        return f.read()


def exists(path):
    return os.path.lexists(path)


# --- files -----------------------------------------------------------------


@case("block")
def open_read_allowed():
    return attempt(lambda: read(os.path.join(ALLOWED, "data.txt")))


@case("block")
def open_read_denied():
    return attempt(lambda: read(os.path.join(SECRET, "x")))


@case("block")
def open_write_denied_new():
    path = os.path.join(SECRET, "new.txt")

    def write():
        with open(path, "w") as f:
            f.write("leak")

    r = attempt(write)
    r["created"] = exists(path)
    return r


@case("block")
def open_write_denied_existing():
    # O_TRUNC must be refused before the call: the file keeps its content.
    path = os.path.join(SECRET, "x")

    def write():
        with open(path, "w") as f:
            f.write("overwritten")

    # Reading it back would be denied too: the test checks the file on disk.
    return attempt(write)


@case("block")
def open_append_read_only_dir():
    # A file allowed for reading only: appending needs `w`.
    path = os.path.join(RO, "data.txt")

    def append():
        with open(path, "a") as f:
            f.write("more")

    r = attempt(append)
    r["read_back"] = attempt(lambda: read(path))
    return r


@case("block")
def open_write_allowed():
    path = os.path.join(ALLOWED, "out.txt")

    def write():
        with open(path, "w") as f:
            f.write("written")
        return read(path)

    return attempt(write)


@case("block")
def os_open_dir_fd():
    dfd = os.open(ALLOWED, os.O_RDONLY | os.O_DIRECTORY)
    try:

        def rel(name, flags):
            fd = os.open(name, flags, 0o600, dir_fd=dfd)
            try:
                return os.read(fd, 100).decode() if flags == os.O_RDONLY else "opened"
            finally:
                os.close(fd)

        return {
            "allowed": attempt(lambda: rel("data.txt", os.O_RDONLY)),
            "escape": attempt(lambda: rel("../secret/x", os.O_RDONLY)),
            "create_escape": attempt(lambda: rel("../secret/made.txt", os.O_WRONLY | os.O_CREAT)),
            "created": exists(os.path.join(SECRET, "made.txt")),
        }
    finally:
        os.close(dfd)


@case("block")
def pathlib_read_text():
    return {
        "allowed": attempt(lambda: pathlib.Path(ALLOWED, "data.txt").read_text()),
        "denied": attempt(lambda: pathlib.Path(SECRET, "x").read_text()),
    }


@case("block")
def symlink_to_denied():
    return attempt(lambda: read(os.path.join(ALLOWED, "link")))


@case("block")
def symlink_to_allowed():
    return attempt(lambda: read(os.path.join(ALLOWED, "goodlink")))


@case("block")
def symlink_dir_to_denied():
    # allowed/secretdir -> ../secret (a relative link to a directory).
    return attempt(lambda: read(os.path.join(ALLOWED, "secretdir", "x")))


@case("block")
def dotdot_escape():
    return {
        "escape": attempt(lambda: read(ALLOWED + "/../secret/x")),
        "stay": attempt(lambda: read(ALLOWED + "/../allowed/./data.txt")),
        "slashes": attempt(lambda: read(ROOT + "//secret///x")),
    }


@case("block")
def relative_after_chdir():
    before = os.getcwd()
    try:
        os.chdir(ALLOWED)
        a = attempt(lambda: read("data.txt"))
        b = attempt(lambda: read("../secret/x"))
        os.chdir(SECRET)
        c = attempt(lambda: read("x"))
        # fchdir: a cwd set through a descriptor must not fool the cache.
        fd = os.open(ALLOWED, os.O_RDONLY | os.O_DIRECTORY)
        os.chdir(fd)
        os.close(fd)
        d = attempt(lambda: read("data.txt"))
        return {"allowed": a, "up": b, "in_secret": c, "fchdir_allowed": d}
    finally:
        os.chdir(before)


@case("block")
def open_modes():
    # r+ is O_RDWR: "rw". O_RDONLY|O_CREAT may create: "rw" too, and nothing is created.
    def create_readonly():
        os.close(os.open(os.path.join(SECRET, "y"), os.O_RDONLY | os.O_CREAT, 0o600))

    return {
        "rplus": attempt(lambda: open(os.path.join(SECRET, "x"), "r+").close()),
        "rdonly_creat": attempt(create_readonly),
        "created": exists(os.path.join(SECRET, "y")),
    }


@case("block")
def proc_root_escape():
    # /proc/** is allowed for reading, but /proc/self/root is a link to /:
    # the file really opened is the secret one.
    return attempt(lambda: read("/proc/self/root" + os.path.join(SECRET, "x")))


# --- processes ---------------------------------------------------------------


@case("block")
def subprocess_allowed():
    r = subprocess.run(["/usr/bin/echo", "hello"], stdout=subprocess.PIPE, text=True)
    return {"returncode": r.returncode, "stdout": r.stdout}


@case("block")
def subprocess_denied():
    # stderr is inherited (not captured) so the child's event lines reach
    # the test in order.
    return attempt(lambda: subprocess.run(["/usr/bin/uname", "-s"], stdout=subprocess.PIPE).returncode)


@case("block")
def subprocess_via_symlink():
    # allowed/tool -> /usr/bin/uname: the program is the link's target.
    return attempt(lambda: subprocess.run([os.path.join(ALLOWED, "tool"), "-s"], stdout=subprocess.PIPE).returncode)


@case("block")
def subprocess_relative_cwd():
    # The child changes to cwd= and then execs ./tool (-> uname, denied) or
    # ./ok (-> true, allowed): relative to the child's directory, not the parent's.
    return {
        "tool": attempt(lambda: subprocess.run(["./tool", "-s"], cwd=ALLOWED, stdout=subprocess.PIPE).returncode),
        "ok": attempt(lambda: subprocess.run(["./ok"], cwd=ALLOWED).returncode),
    }


@case("block")
def subprocess_shell_allowed():
    r = subprocess.run("echo hi; /usr/bin/true", shell=True, stdout=subprocess.PIPE, text=True)
    return {"returncode": r.returncode, "stdout": r.stdout}


@case("block")
def subprocess_shell_denied_inner():
    # /bin/sh is allowed, the program it runs is not: the shell reports
    # "Permission denied" and exits 126.
    r = subprocess.run("/usr/bin/uname -s", shell=True, stdout=subprocess.PIPE, text=True)
    return {"returncode": r.returncode, "stdout": r.stdout}


@case("block")
def subprocess_env_scrubbed():
    # env={} drops LD_PRELOAD and RAMPART_*: the child must still be covered.
    code = (
        "import json, os\n"
        "try:\n"
        "    open(%r).read(); r = {'ok': True}\n"
        "except OSError as e:\n"
        "    r = {'ok': False, 'error': type(e).__name__, 'errno': e.errno}\n"
        "r['pid'] = os.getpid()\n"
        "r['env'] = sorted(k for k in os.environ if k.startswith('RAMPART_') or k == 'LD_PRELOAD')\n"
        "print(json.dumps(r))\n"
    ) % os.path.join(SECRET, "x")
    r = subprocess.run([PY, "-I", "-B", "-c", code], env={}, stdout=subprocess.PIPE, text=True)
    return {"returncode": r.returncode, "child": json.loads(r.stdout) if r.stdout else None}


@case("block")
def subprocess_env_overridden():
    # A child's own RAMPART_MODE=off / LD_PRELOAD= must be replaced by the parent's.
    env = {"RAMPART_MODE": "off", "RAMPART_POLICY": "/nonexistent", "LD_PRELOAD": ""}
    r = subprocess.run(
        [PY, "-I", "-B", "-c", "import os\ntry:\n open(%r)\nexcept OSError as e:\n print(e.errno)\nelse:\n print('read')"
         % os.path.join(SECRET, "x")],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    return {"returncode": r.returncode, "stdout": r.stdout}


@case("block")
def os_system():
    return {
        "allowed": os.waitstatus_to_exitcode(os.system("/usr/bin/true")),
        "denied_inner": os.waitstatus_to_exitcode(os.system("/usr/bin/uname -s >/dev/null")),
    }


@case("block")
def posix_spawn():
    def spawn(prog):
        # stdout to /dev/null: a wrongly allowed uname must not print into the JSON lines.
        devnull = [(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)]
        pid = os.posix_spawn(prog, [prog], os.environ, file_actions=devnull)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    return {"allowed": attempt(lambda: spawn("/usr/bin/true")), "denied": attempt(lambda: spawn("/usr/bin/uname"))}


@case("noshell")
def shell_denied_system():
    # Without /usr/bin/dash allowed, system() itself fails: -1 / EACCES.
    return {"status": os.system("/usr/bin/true")}


@case("noshell")
def shell_denied_subprocess():
    return attempt(lambda: subprocess.run("/usr/bin/true", shell=True).returncode)


@case("noshell")
def allowed_still_runs():
    return attempt(lambda: subprocess.run(["/usr/bin/true"]).returncode)


# --- network -------------------------------------------------------------------


def tcp_connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        s.sendall(b"ping")
        return "connected"
    finally:
        s.close()


@case("block")
def socket_connect_allowed():
    return attempt(lambda: tcp_connect(CFG["tcp_allowed"]))


@case("block")
def socket_connect_denied():
    return attempt(lambda: tcp_connect(CFG["tcp_denied"]))


def udp_send(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        return s.sendto(b"datagram", ("127.0.0.1", port))
    finally:
        s.close()


@case("block")
def udp_sendto_allowed():
    return attempt(lambda: udp_send(CFG["udp_allowed"]))


@case("block")
def udp_sendto_denied():
    return attempt(lambda: udp_send(CFG["udp_denied"]))


@case("block")
def udp_connect_denied():
    # connect() on a UDP socket is checked too (then send() has no address).
    def go():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.connect(("127.0.0.1", CFG["udp_denied"]))
            return s.send(b"datagram")
        finally:
            s.close()

    return attempt(go)


@case("block")
def udp_sendmsg_denied():
    def go():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            return s.sendmsg([b"data", b"gram"], [], 0, ("127.0.0.1", CFG["udp_denied"]))
        finally:
            s.close()

    return attempt(go)


# --- multiprocessing ------------------------------------------------------------


def _mp_child(conn, path):
    try:
        with open(path) as f:
            f.read()
        r = {"ok": True}
    except OSError as e:
        r = {"ok": False, **err(e)}
    r["pid"] = os.getpid()
    conn.send(r)
    conn.close()


@case("block")
def multiprocessing_fork():
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_mp_child, args=(send, os.path.join(SECRET, "x")))
    p.start()
    send.close()
    child = recv.recv()
    p.join()
    return {"exitcode": p.exitcode, "child": child}


@case("block")
def socket_connect_by_name_denied():
    # The name the process resolved is the target (localhost -> 127.0.0.1 here).
    # Last of its suite: from now on the library knows 127.0.0.1 as
    # "localhost" in this process, and every later 127.0.0.1 target says so.
    def go():
        (fam, typ, proto, _, addr), *_ = socket.getaddrinfo("localhost", CFG["tcp_denied"], socket.AF_INET,
                                                           socket.SOCK_STREAM)
        s = socket.socket(fam, typ, proto)
        try:
            s.connect(addr)
            return "connected"
        finally:
            s.close()

    return attempt(go)


# --- profile and alert modes ------------------------------------------------------


@case("profile")
def profile_dedup():
    path = os.path.join(ALLOWED, "data.txt")
    n = 0
    for _ in range(100):
        n += len(read(path))
    return {"bytes": n}


@case("profile")
def profile_nothing_denied():
    reads = [attempt(lambda: read(os.path.join(SECRET, "x"))) for _ in range(3)]
    conns = [attempt(lambda: tcp_connect(CFG["tcp_denied"])) for _ in range(3)]
    return {"reads": reads, "connects": conns}


@case("alert")
def alert_file():
    return attempt(lambda: read(os.path.join(SECRET, "x")))


@case("alert")
def alert_connect():
    return attempt(lambda: tcp_connect(CFG["tcp_denied"]))


@case("alert")
def alert_subprocess():
    return attempt(lambda: subprocess.run(["/usr/bin/uname", "-s"], stdout=subprocess.PIPE, text=True).stdout)


def main():
    selected = [(name, fn) for (s, name, fn) in CASES if s == SUITE]
    if not selected:
        sys.exit("unknown suite %r" % SUITE)
    for name, fn in selected:
        os.write(2, ("@@case %s\n" % name).encode())
        try:
            out = fn()
        except Exception as e:  # noqa: BLE001 - reported, the test fails on it
            out = {"unexpected": err(e)}
        print(json.dumps({"case": name, "pid": os.getpid(), **out}), flush=True)
    os.write(2, b"@@done\n")


if __name__ == "__main__":
    main()
