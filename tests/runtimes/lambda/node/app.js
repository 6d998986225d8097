// The Node.js fixture function (see ../README.md): an honest behaviour and a
// compromised one selected by the event, each action's outcome in the result.
"use strict";

const fs = require("fs");
const net = require("net");
const path = require("path");
const { spawnSync } = require("child_process");

const RUNTIME = "node";

function addr(variable) {
  const value = process.env[variable] || "";
  const at = value.lastIndexOf(":");
  return { host: value.slice(0, at), port: Number(value.slice(at + 1)) };
}

// Connects to `variable`'s address and sends `line`; when `reply` is set,
// waits for one line back and checks it. Done once the line is in (or sent):
// the peer need not close its end.
function talk(variable, line, reply) {
  return new Promise((resolve, reject) => {
    const { host, port } = addr(variable);
    const socket = net.connect({ host, port });
    let got = "";
    const finish = (error) => {
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.setTimeout(5000, () => finish(new Error("timed out")));
    socket.on("error", finish);
    socket.on("connect", () => {
      socket.write(line, () => {
        if (!reply) finish();
      });
    });
    socket.on("data", (chunk) => {
      got += chunk.toString();
      if (got.includes("\n")) finish(got === reply ? null : new Error(`unexpected reply ${JSON.stringify(got)}`));
    });
    socket.on("end", () => finish(new Error(`connection closed after ${JSON.stringify(got)}`)));
  });
}

async function attempt(actions, name, action) {
  try {
    await action();
    actions[name] = "ok";
  } catch (e) {
    actions[name] = (e && e.message) || String(e);
  }
}

exports.handler = async (event, context) => {
  if (event && event.fail) throw new Error("fixture failure requested");
  if (event && event.noop === true) {
    return { runtime: RUNTIME, request_id: context.awsRequestId, pid: process.pid, noop: true };
  }
  const evil = !!event && event.evil === true;
  const result = { runtime: RUNTIME, request_id: context.awsRequestId, pid: process.pid, evil, greeting: null };
  const actions = {};
  const steps = [
    ["config", () => {
      const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
      result.greeting = JSON.parse(fs.readFileSync(path.join(root, "config.json"), "utf8")).greeting;
    }],
    ["tmp", () => {
      const dir = process.env.FIXTURE_TMP || "/tmp";
      fs.writeFileSync(path.join(dir, `${RUNTIME}-out.json`), JSON.stringify({ request_id: context.awsRequestId }));
    }],
    ["peer", () => talk("FIXTURE_PEER", `ping ${RUNTIME}\n`, "pong\n")],
  ];
  if (evil) {
    steps.push(
      ["environ", () => fs.readFileSync("/proc/self/environ")],
      ["credentials", () => fs.readFileSync(process.env.FIXTURE_CREDENTIALS)],
      ["unknown", () => talk("FIXTURE_UNKNOWN", `exfil ${RUNTIME}\n`, null)],
      ["spawn", () => {
        const run = spawnSync("/bin/sh", ["-c", "true"]);
        if (run.error) throw run.error;
        if (run.status !== 0) throw new Error(`/bin/sh exited with ${run.status} (signal ${run.signal})`);
      }],
    );
  }
  for (const [name, action] of steps) await attempt(actions, name, action);
  result.actions = actions;
  return result;
};
