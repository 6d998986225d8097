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

# The bytes of a bucket name (the library's and the policy's grammar, legacy
# names included). A `Bucket` parameter with anything else (an access point
# or Outposts ARN, an S3 Object Lambda alias) names no bucket rampart can
# match: it is asked about without one, which only a rule without a bucket
# (`s3:PutObject`, `s3:*`) allows, so a bucket-scoped rule is never
# sidestepped by an ARN. The longest bucket name the library takes is 255.
_BUCKET_BYTES = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
_MAX_BUCKET = 255


def iam_prefix(service_model):
    """The IAM service prefix of a botocore ServiceModel: its signing name
    (signingName, else endpointPrefix), lowercased, with the few names IAM
    spells differently mapped."""
    name = service_model.signing_name or service_model.endpoint_prefix or service_model.service_name
    name = name.lower()
    return IAM_PREFIX.get(name, name)


def plain_bucket(value):
    """`value` when it is a bucket name the policy can name, else None."""
    if isinstance(value, str) and 0 < len(value) <= _MAX_BUCKET and _BUCKET_BYTES.issuperset(value):
        return value
    return None


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
            bucket = plain_bucket(params.get("Bucket")) if self.is_s3 and isinstance(params, dict) else None
            target = self.prefix + ":" + model.name + ("@" + bucket if bucket else "")
            refused = denied(_ASK + target)
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
