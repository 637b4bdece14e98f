"""Schemathesis hooks for tests/schemathesis.rs.

Generated requests almost never name a model the daemon serves, nor end on a user message,
so without help nearly all of them stop at a 404 or 400 and the CLI path (200 JSON, the SSE
stream and its schema) is barely exercised. This hook points most generated bodies of the
two generation endpoints (chat completions and the Messages API) at a served model, appends
a user message to half of them and asks for a stream in half (the generator rarely
pairs `stream: true` with an otherwise valid body, so the event schemas would go almost
unchecked). The choice is a hash of the body, so a run is reproducible with its seed.
"""

import json
import zlib

import schemathesis

SERVED_MODEL = "claude-opus-4"

# The endpoints whose bodies name a model and end on the user's turn. Both APIs take a
# user message as {"role": "user", "content": "<text>"}.
GENERATION_PATHS = ("/v1/chat/completions", "/v1/messages")


@schemathesis.hook
def map_body(context, body):
    operation = context.operation
    if operation is None or operation.path not in GENERATION_PATHS:
        return body
    if not isinstance(body, dict):
        return body
    key = zlib.crc32(json.dumps(body, sort_keys=True, default=str).encode())
    if isinstance(body.get("model"), str) and key % 4 != 0:
        body["model"] = SERVED_MODEL
    messages = body.get("messages")
    if isinstance(messages, list) and (key >> 2) % 2 == 0:
        body["messages"] = messages + [{"role": "user", "content": "hello"}]
    if (key >> 3) % 2 == 0:
        body["stream"] = True
    return body
