"""A placeholder handler: replace it with the function's own code."""


def handler(event, context):
    return {"ok": True}
