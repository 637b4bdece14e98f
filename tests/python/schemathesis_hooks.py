"""Schemathesis hooks for tests/schemathesis.rs.

Generated requests almost never name a model the daemon serves, nor end on a user message,
so without help nearly all of them stop at a 404 or 400 and the CLI path (200 JSON, the SSE
stream and its schema) is barely exercised. This hook points most generated bodies of the
three generation endpoints (chat completions, the Messages API and the Responses API) and of
count_tokens at a served model, appends a user message to half of them and asks for a
stream in half (the
generator rarely pairs `stream: true` with an otherwise valid body, so the event schemas
would go almost unchecked). The choice is a hash of the body, so a run is reproducible with
its seed.

Responses bodies also lose most generated `previous_response_id`s (an id the daemon never
issued is an honest 404), and some of their user messages ask the fake CLI for an answer
cut at max tokens (`response.incomplete`) or, streamed, for a crash after the first text
(`response.failed`), so those events are checked against their schemas too.
"""

import json
import zlib

import schemathesis

SERVED_MODEL = "claude-opus-4"

# The endpoints whose bodies name a model and end on the user's turn, and the field that
# holds the conversation. All three APIs take a user message as
# {"role": "user", "content": "<text>"}.
GENERATION_PATHS = {
    "/v1/chat/completions": "messages",
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "messages",
    "/v1/responses": "input",
}


@schemathesis.hook
def map_body(context, body):
    operation = context.operation
    if operation is None or operation.path not in GENERATION_PATHS:
        return body
    if not isinstance(body, dict):
        return body
    responses = operation.path == "/v1/responses"
    key = zlib.crc32(json.dumps(body, sort_keys=True, default=str).encode())
    if isinstance(body.get("model"), str) and key % 4 != 0:
        body["model"] = SERVED_MODEL
    stream = (key >> 3) % 2 == 0
    if stream:
        body["stream"] = True
    text = "hello"
    if responses:
        if (key >> 4) % 4 != 0:
            body.pop("previous_response_id", None)
        scenario = (key >> 6) % 4
        if scenario == 0:
            text = "hello @fake:maxtok"
        elif scenario == 1 and stream:
            text = "hello @fake:crash_midstream"
            # Structured output is not streamed as text: the crash would come before any
            # content and be an honest 502 instead of the `response.failed` event.
            body.pop("text", None)
    field = GENERATION_PATHS[operation.path]
    conversation = body.get(field)
    if (key >> 2) % 2 == 0:
        if isinstance(conversation, list):
            body[field] = conversation + [{"role": "user", "content": text}]
        elif responses and isinstance(conversation, str):
            body[field] = text
    return body
