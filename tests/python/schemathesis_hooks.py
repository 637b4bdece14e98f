"""Schemathesis hooks for tests/schemathesis.rs.

Generated chat requests almost never name a model the daemon serves, nor end on a user
message, so without help nearly all of them stop at a 404 or 400 and the CLI path (200 JSON,
the SSE stream and its schema) is barely exercised. This hook points most generated bodies
at a served model and appends a user message to half of them. The choice is a hash of the
body, so a run is reproducible with its seed.
"""

import json
import zlib

import schemathesis

SERVED_MODEL = "claude-opus-4"


@schemathesis.hook
def map_body(context, body):
    operation = context.operation
    if operation is None or operation.path != "/v1/chat/completions":
        return body
    if not isinstance(body, dict):
        return body
    key = zlib.crc32(json.dumps(body, sort_keys=True, default=str).encode())
    if isinstance(body.get("model"), str) and key % 4 != 0:
        body["model"] = SERVED_MODEL
    messages = body.get("messages")
    if isinstance(messages, list) and (key >> 2) % 2 == 0:
        body["messages"] = messages + [{"role": "user", "content": "hello"}]
    return body
