"""A long-running protected process for the policy refresh suite.

Reads one command a line on stdin and answers one line on stdout:
  open PATH   open PATH for reading here         -> ok | EACCES | <errno name>
  fork PATH   the same in a fork child started at launch
  exec PATH   the same in an exec'd child (this script, --serve) started at launch
  timed PATH  open here, answer "<result> <microseconds>"
  pids        "<root> <fork child> <exec child>"
  quit
The children exist before any policy change, so they show whether processes
started earlier follow the root's new policy.
"""
import errno
import os
import subprocess
import sys
import time


def try_open(path):
    try:
        with open(path, "rb"):
            return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def serve(inp, out):
    for line in inp:
        out.write(try_open(line.rstrip("\n")) + "\n")
        out.flush()


def main():
    if sys.argv[1:] == ["--serve"]:
        serve(sys.stdin, sys.stdout)
        return
    to_fork_r, to_fork_w = os.pipe()
    from_fork_r, from_fork_w = os.pipe()
    fork_pid = os.fork()
    if fork_pid == 0:
        os.close(to_fork_w)
        os.close(from_fork_r)
        serve(os.fdopen(to_fork_r), os.fdopen(from_fork_w, "w"))
        os._exit(0)
    os.close(to_fork_r)
    os.close(from_fork_w)
    to_fork = os.fdopen(to_fork_w, "w")
    from_fork = os.fdopen(from_fork_r)
    exec_child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )

    def ask(w, r, path):
        w.write(path + "\n")
        w.flush()
        return r.readline().strip()

    for line in sys.stdin:
        cmd, _, arg = line.rstrip("\n").partition(" ")
        if cmd == "open":
            answer = try_open(arg)
        elif cmd == "fork":
            answer = ask(to_fork, from_fork, arg)
        elif cmd == "exec":
            answer = ask(exec_child.stdin, exec_child.stdout, arg)
        elif cmd == "timed":
            t = time.perf_counter()
            result = try_open(arg)
            answer = "%s %d" % (result, (time.perf_counter() - t) * 1e6)
        elif cmd == "pids":
            answer = "%d %d %d" % (os.getpid(), fork_pid, exec_child.pid)
        elif cmd == "quit":
            break
        else:
            answer = "unknown command " + cmd
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    to_fork.close()
    exec_child.stdin.close()
    os.waitpid(fork_pid, 0)
    exec_child.wait()


main()
