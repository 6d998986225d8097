// rampart's Node.js shim, loaded before the function's code by
// `NODE_OPTIONS=--require /opt/rampart/node/rampart.js` (the wrapper sets
// it; shims/README.md, "node/").
//
// At start it only wraps Module._load and loads nothing. When the function
// (or its SDK) requires the AWS SDK for JavaScript v3's client core —
// `@smithy/core/client` today, `@smithy/smithy-client` or
// `@aws-sdk/smithy-client` in older releases — it patches that module's
// `Client.prototype.send` so that each client, at its first send, gets one
// more middleware in its stack at the `initialize` step: before the input
// is serialized, the endpoint resolved, the request signed or sent.
//
// The middleware asks the preload library about the call by opening
// /dev/rampart/api/SERVICE:Action (S3 calls with a bucket:
// .../SERVICE:Action@BUCKET). librampart.so answers it itself, the kernel
// never sees it: -1/EACCES when block mode denies the action, else
// -1/ENOENT, which is also the kernel's answer without the library. So
// anything but EACCES means go ahead; on EACCES the call fails with an
// error shaped like the SDK's own access-denied error, and no request
// leaves the process.
//
// Not seen: a function that imports the SDK as ES modules (`import` of
// @aws-sdk/* resolves to their dist-es files, which never pass through
// Module._load), and an SDK bundled into the function's own file (esbuild,
// webpack). The library's host-name check still sees those at the service
// level.
//
// Nothing in the shim may break a call the policy allows: its own failures
// are swallowed. The denial is never swallowed.

"use strict";

const Module = require("module");
const fs = require("fs");

const ASK = "/dev/rampart/api/";
const PATCHED = Symbol.for("rampart.apiCheck");
// Stacks that have the middleware: lib-dynamodb's DynamoDBDocumentClient
// shares its DynamoDBClient's stack, which must get it once.
const checkedStacks = new WeakSet();
const CORES = new Set(["@smithy/core/client", "@smithy/smithy-client", "@aws-sdk/smithy-client"]);

// The SDK's signing name is the IAM service prefix for all but these.
const IAM_PREFIX = {
  monitoring: "cloudwatch",
  iotdata: "iot",
  iotsecuredtunneling: "iot",
  ioteventsdata: "iotevents",
  "iot-jobs-data": "iotjobsdata",
  "mturk-requester": "mechanicalturk",
  tagging: "tag",
};

// The IAM service prefix of a client: its signing name (`signingName`, set
// by older releases and by users, else the client's `defaultSigningName`),
// else its serviceId without spaces, lowercased; IAM's own spelling where
// it differs.
function iamPrefix(config) {
  let name = (config && (config.signingName || config.defaultSigningName || config.serviceId)) || "";
  if (typeof name !== "string") return "";
  name = name.replace(/ /g, "").toLowerCase();
  return Object.prototype.hasOwnProperty.call(IAM_PREFIX, name) ? IAM_PREFIX[name] : name;
}

// A bucket name the policy can name (the library's grammar, legacy names
// included), else "": an access point or Outposts ARN names no bucket
// rampart can match and is asked about without one, which only a rule
// without a bucket (`s3:PutObject`, `s3:*`) allows.
function plainBucket(value) {
  return typeof value === "string" && value.length <= 255 && /^[A-Za-z0-9._-]+$/.test(value) ? value : "";
}

// Whether the library denies the call `path` asks about. The usual answer
// is an exception (ENOENT): without a stack trace it costs a few
// microseconds instead of tens.
function denied(path) {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  let fd;
  try {
    fd = fs.openSync(path, "r");
  } catch (e) {
    return e.code === "EACCES";
  } finally {
    Error.stackTraceLimit = limit;
  }
  // A real file there (no library, someone made /dev/rampart): not an
  // answer. Go ahead.
  try {
    fs.closeSync(fd);
  } catch (e) {
    // nothing to do
  }
  return false;
}

// Per client class name (`DynamoDBClient`), a ServiceException subclass
// named like the client package's own base exception
// (`DynamoDBServiceException`): the SDK's ServiceException matches
// `instanceof` by that name for classes of another copy of the package, so
// `err instanceof DynamoDBServiceException` holds as for a real 403.
const errorClasses = new Map();

function errorClass(ServiceException, clientName) {
  const name = clientName.endsWith("Client") ? clientName.slice(0, -6) + "ServiceException" : "";
  if (typeof ServiceException !== "function" || !/^[A-Za-z0-9]+ServiceException$/.test(name)) return ServiceException;
  let cls = errorClasses.get(name);
  if (!cls) {
    cls = {
      [name]: class extends ServiceException {
        constructor(options) {
          super(options);
          Object.setPrototypeOf(this, cls.prototype);
        }
      },
    }[name];
    errorClasses.set(name, cls);
  }
  return cls;
}

// The SDK's access-denied error as a 403 from the service would give it.
function accessDenied(ServiceException, clientName, prefix, target) {
  const name = prefix === "s3" ? "AccessDenied" : "AccessDeniedException";
  const message = "rampart: " + target + " is not allowed by this function's policy";
  const $metadata = { httpStatusCode: 403, attempts: 0, totalRetryDelay: 0 };
  let err;
  try {
    const Ctor = errorClass(ServiceException, clientName);
    err = new Ctor({ name, $fault: "client", $metadata, message });
  } catch (e) {
    err = new Error(message);
    err.name = name;
    err.$fault = "client";
    err.$metadata = $metadata;
  }
  err.Code = name;
  err.Message = message;
  return err;
}

function middleware(client, ServiceException) {
  let prefix;
  return (next, context) => (args) => {
    let err;
    try {
      if (prefix === undefined) prefix = iamPrefix(client.config);
      const command = (context && context.commandName) || "";
      const action = command.endsWith("Command") ? command.slice(0, -7) : command;
      const input = args && args.input;
      const bucket = prefix === "s3" && input ? plainBucket(input.Bucket) : "";
      const target = prefix + ":" + action + (bucket ? "@" + bucket : "");
      if (prefix && action && denied(ASK + target)) {
        const clientName = (context && context.clientName) || (client.constructor && client.constructor.name) || "";
        err = accessDenied(ServiceException, clientName, prefix, target);
      }
    } catch (e) {
      err = undefined;
    }
    if (err) return Promise.reject(err);
    return next(args);
  };
}

const MIDDLEWARE = { step: "initialize", priority: "high", name: "rampartApiCheckMiddleware", tags: ["RAMPART"] };

function patch(core) {
  const Client = core && core.Client;
  const proto = Client && Client.prototype;
  if (!proto || typeof proto.send !== "function" || proto[PATCHED]) return;
  const send = proto.send;
  const ServiceException = core.ServiceException;
  proto.send = function (...args) {
    try {
      const stack = this.middlewareStack;
      if (!checkedStacks.has(stack)) {
        checkedStacks.add(stack);
        stack.add(middleware(this, ServiceException), MIDDLEWARE);
      }
    } catch (e) {
      // a client without a middleware stack: leave it be
    }
    return send.apply(this, args);
  };
  proto[PATCHED] = true;
}

const load = Module._load;
Module._load = function (request) {
  const exports = load.apply(this, arguments);
  if (CORES.has(request)) {
    try {
      patch(exports);
    } catch (e) {
      // never in the way of a require
    }
  }
  return exports;
};

// For `cargo xtask bench-api`, which times the check alone.
module.exports = { middleware, iamPrefix, plainBucket };
