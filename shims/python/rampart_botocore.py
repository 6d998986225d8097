# rampart's botocore hook: asks the preload library about every AWS API
# call of every botocore client (boto3's included) before the request is
# built, signed or sent, and raises botocore's own access-denied error when
# the policy denies it. Loaded by sitecustomize.py beside it, only once the
# function imports botocore.client (shims/README.md, "python/").
#
# The question is an open of /dev/rampart/api/SERVICE:Action (for S3 calls
# with a bucket: .../SERVICE:Action@BUCKET). librampart.so answers it itself,
# the kernel never sees it: -1/EACCES when block mode denies the action,
# else -1/ENOENT, which is also the kernel's answer when the library is not
# loaded. So ENOENT, or anything but EACCES, means go ahead.
#
# Nothing in the shim may break a call the policy allows: its own failures
# are swallowed. The denial is never swallowed.

import errno
import functools
import os
import weakref

_ASK = "/dev/rampart/api/"
_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)

# botocore's signing name is the IAM service prefix for all but these
# (botocore's service_model.signing_name → the prefix IAM policies use).
IAM_PREFIX = {
    "monitoring": "cloudwatch",  # CloudWatch metrics and alarms
    "iotdata": "iot",  # iot-data
    "iotsecuredtunneling": "iot",  # iotsecuretunneling
    "ioteventsdata": "iotevents",  # iotevents-data
    "iot-jobs-data": "iotjobsdata",
    "mturk-requester": "mechanicalturk",
    "tagging": "tag",  # resourcegroupstaggingapi
}

# Characters a bucket name is written with as it is; anything else (an
# access point or Outposts ARN's `:` and `/`, or a name that is not a bucket
# name at all) as %XX, so the question stays one path component and a `/..`
# in a parameter can never turn it into another path.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


def iam_prefix(service_model):
    """The IAM service prefix of a botocore ServiceModel: its signing name
    (signingName, else endpointPrefix), lowercased, with the few names IAM
    spells differently mapped."""
    name = service_model.signing_name or service_model.endpoint_prefix or service_model.service_name
    name = name.lower()
    return IAM_PREFIX.get(name, name)


def quote_bucket(bucket):
    if all(c in _PLAIN for c in bucket):
        return bucket
    return "".join(c if c in _PLAIN else "".join("%%%02X" % b for b in c.encode("utf-8", "surrogatepass")) for c in bucket)


def question(prefix, operation, bucket=None):
    """The path that asks the library about PREFIX:Operation[@bucket]."""
    path = _ASK + prefix + ":" + operation
    if bucket:
        path += "@" + quote_bucket(bucket)
    return path


def denied(path):
    """Whether the library denies the call `path` asks about."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as e:
        return e.errno == errno.EACCES
    # A real file at that path (no library, someone made /dev/rampart):
    # not an answer. Go ahead.
    os.close(fd)
    return False


class _Check:
    """The `before-parameter-build` handler of one client: botocore emits
    it with the caller's parameters before it validates, serializes,
    resolves the endpoint, signs or sends anything, and an exception raised
    here ends the call right there, with no request."""

    __slots__ = ("prefix", "is_s3", "client", "__weakref__")

    def __init__(self, client):
        self.prefix = iam_prefix(client.meta.service_model)
        self.is_s3 = self.prefix == "s3"
        self.client = weakref.ref(client)

    def __call__(self, params=None, model=None, **kwargs):
        try:
            bucket = None
            if self.is_s3 and isinstance(params, dict):
                b = params.get("Bucket")
                if isinstance(b, str):
                    bucket = b
            target = self.prefix + ":" + model.name + ("@" + bucket if bucket else "")
            refused = denied(question(self.prefix, model.name, bucket))
        except Exception:
            return None
        if refused:
            raise self.error(target, model.name)
        return None

    def error(self, target, operation):
        """botocore's ClientError (the client's modeled class for the code,
        if it has one) as a 403 from the service would give it."""
        from botocore.exceptions import ClientError

        code = "AccessDenied" if self.is_s3 else "AccessDeniedException"
        response = {
            "Error": {
                "Code": code,
                "Message": "rampart: %s is not allowed by this function's policy" % target,
            },
            "ResponseMetadata": {"HTTPStatusCode": 403, "HTTPHeaders": {}, "RetryAttempts": 0},
        }
        cls = ClientError
        try:
            client = self.client()
            if client is not None:
                cls = client.exceptions.from_code(code)
        except Exception:
            cls = ClientError
        return cls(response, operation)


def register(client):
    """Puts the check first among the client's `before-parameter-build`
    handlers (every service, every operation: botocore's events match by
    prefix)."""
    client.meta.events.register_first("before-parameter-build", _Check(client), unique_id="rampart-api-check")


def install(client_module):
    """Patches botocore.client.BaseClient so every client made from now on
    (boto3's, aiobotocore's subclasses too) gets the check."""
    base = client_module.BaseClient
    if getattr(base, "_rampart_hooked", False):
        return
    init = base.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        try:
            register(self)
        except Exception:
            pass

    base.__init__ = __init__
    base._rampart_hooked = True
