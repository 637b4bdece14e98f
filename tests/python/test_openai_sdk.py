"""The official `openai` Python SDK as a client of claude-max-proxy.

A Rust integration test starts the daemon with `examples/fake_claude.rs` as its `claude` CLI and
runs this module with `PROXY_BASE_URL=http://127.0.0.1:PORT/v1` (and optionally `PROXY_API_KEY`).
The fake's behaviour is chosen per request by a `@fake:<scenario>` marker in the prompt; its
normal reply is `Hello from the fake. You said: <user text>`, streamed in 6-character deltas,
with usage input 42 + cache creation 3 + cache read 5 tokens.

Run by hand:  PROXY_BASE_URL=http://127.0.0.1:3456/v1 .venv/bin/python -m pytest tests/python
"""

from __future__ import annotations

import os
import re

import pytest

BASE_URL = os.environ.get("PROXY_BASE_URL")
if not BASE_URL:
    pytest.skip(
        "PROXY_BASE_URL is not set: these tests need a running claude-max-proxy "
        "(the Rust test suite starts one with the fake CLI and sets it)",
        allow_module_level=True,
    )

openai = pytest.importorskip("openai", reason="the openai Python SDK is not installed")
from openai import OpenAI  # noqa: E402

MODEL = "claude-opus-4"
# What the fake CLI reports for `--model opus` (claude-opus-4 → CLI alias opus).
REPORTED_MODEL = "claude-opus-5-5"
PROMPT_TOKENS = 42 + 3 + 5  # input + cache creation + cache read, as the fake reports them
DELTA_CHARS = 6  # the fake's delta size


def fake_reply(user_text: str) -> str:
    return f"Hello from the fake. You said: {user_text}"


@pytest.fixture(scope="module")
def client() -> OpenAI:
    c = OpenAI(
        base_url=BASE_URL,
        api_key=os.environ.get("PROXY_API_KEY", "unused"),
        max_retries=0,
        timeout=30.0,
    )
    yield c
    c.close()


def chat(client: OpenAI, content, **kwargs):
    return client.chat.completions.create(
        model=kwargs.pop("model", MODEL),
        messages=kwargs.pop("messages", None) or [{"role": "user", "content": content}],
        **kwargs,
    )


def error_message(err: openai.APIError) -> str:
    """The OpenAI error object's `message` (falls back to the exception text)."""
    body = err.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return str(err)


def assert_names_field(err: openai.APIError, *needles: str) -> None:
    haystack = f"{err.param or ''}\n{error_message(err)}".lower()
    assert any(n.lower() in haystack for n in needles), (
        f"error should name one of {needles}: param={err.param!r} message={error_message(err)!r}"
    )


def collect_stream(stream) -> tuple[list, str]:
    chunks = []
    for chunk in stream:
        chunks.append(chunk)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


# ---------------------------------------------------------------------------------------- models


def test_models_list_contains_the_documented_ids(client):
    models = list(client.models.list())
    ids = {m.id for m in models}
    expected = {"claude-opus-4", "claude-sonnet-4", "claude-haiku-4", "opus", "sonnet", "haiku"}
    assert expected <= ids, f"missing model ids: {expected - ids}"
    assert all(m.object == "model" for m in models)


def test_models_retrieve(client):
    model = client.models.retrieve(MODEL)
    assert model.id == MODEL
    assert model.object == "model"


def test_models_retrieve_unknown_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as exc:
        client.models.retrieve("no-such-model")
    assert exc.value.status_code == 404


# ------------------------------------------------------------------------------- non-streaming


def test_chat_completion(client):
    resp = chat(client, "hi")
    assert resp.object == "chat.completion"
    assert resp.id
    assert resp.model == REPORTED_MODEL
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == fake_reply("hi")
    assert choice.finish_reason == "stop"
    assert resp.usage.prompt_tokens == PROMPT_TOKENS
    assert resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_system_message_reaches_the_cli(client):
    resp = chat(
        client,
        None,
        messages=[
            {"role": "system", "content": "You are a terse pirate."},
            {"role": "user", "content": "@fake:system"},
        ],
    )
    assert resp.choices[0].message.content == "You are a terse pirate."


def test_content_as_list_of_text_parts(client):
    resp = chat(
        client,
        [{"type": "text", "text": "hi"}, {"type": "text", "text": "there"}],
    )
    content = resp.choices[0].message.content
    assert content.startswith(fake_reply(""))
    assert "hi" in content and "there" in content
    assert content.index("hi") < content.index("there")


def test_max_tokens_stop_is_finish_reason_length(client):
    # The fake replays the real CLI's recording (tests/fixtures/claude-cli/v2.1.332/
    # max_tokens, made against the mock Messages API with the prompt "hi"): the answer up to
    # the first max_tokens stop, not the CLI's continuations after it.
    resp = chat(client, "@fake:maxtok hi")
    assert resp.choices[0].finish_reason == "length"
    assert resp.choices[0].message.content == "Hello from the mock. You said: hi"


def test_abandoned_stream_returns_the_final_text(client):
    # The CLI streamed "partial", abandoned it and retried: only the final text may be returned.
    resp = chat(client, "@fake:abandoned hi")
    assert resp.choices[0].message.content == fake_reply("hi")
    assert resp.choices[0].finish_reason == "stop"


def test_multi_turn_history_reaches_the_cli_as_turns(client):
    resp = chat(
        client,
        None,
        messages=[
            {"role": "user", "content": "My name is Bob."},
            {"role": "assistant", "content": "Nice to meet you, Bob."},
            {"role": "user", "content": "@fake:history What is my name?"},
        ],
    )
    content = resp.choices[0].message.content
    first = "user:My name is Bob."
    second = "assistant:Nice to meet you, Bob."
    assert first in content, content
    assert second in content, content
    assert content.index(first) < content.index(second)
    assert "What is my name?" in content[content.index(second) :]


# ------------------------------------------------------------------------------------- streaming


def test_streaming_with_usage(client):
    stream = chat(client, "hi", stream=True, stream_options={"include_usage": True})
    chunks, text = collect_stream(stream)
    assert len(chunks) >= 3

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1, "all chunks must share one id"

    assert chunks[0].choices and chunks[0].choices[0].delta.role == "assistant"
    assert text == fake_reply("hi")

    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]

    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == PROMPT_TOKENS
    assert last.usage.completion_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    # Only the final chunk carries usage.
    assert all(c.usage is None for c in chunks[:-1])


def test_streaming_without_usage_has_no_usage_chunk(client):
    chunks, text = collect_stream(chat(client, "hi", stream=True))
    assert text == fake_reply("hi")
    assert all(c.choices for c in chunks), "no empty-choices usage chunk without include_usage"
    assert all(c.usage is None for c in chunks)


def test_streaming_abandoned_prefix_never_contradicts(client):
    # The abandoned partial text is a prefix of the final one: the client sees the final text once.
    chunks, text = collect_stream(chat(client, "@fake:abandoned_prefix hi", stream=True))
    assert text == fake_reply("hi")


def test_streaming_crash_midstream_raises_api_error(client):
    stream = chat(client, "@fake:crash_midstream hi", stream=True)
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    # The fake streams two deltas before it dies.
    assert "".join(received) == fake_reply("hi")[: 2 * DELTA_CHARS]


# ---------------------------------------------------------------------------------------- errors


def test_n_greater_than_one_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as exc:
        chat(client, "hi", n=2)
    assert exc.value.status_code == 400
    # "n" is too short for a substring test: want param "n" or `n` as a word in the message.
    msg = error_message(exc.value)
    assert exc.value.param == "n" or re.search(r"(?<![\w.\[])n(?![\w\]])", msg), (exc.value.param, msg)


def test_image_part_is_answered(client):
    completion = chat(
        client,
        [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ],
    )
    assert completion.choices[0].message.content == fake_reply("what is this?")


def test_broken_image_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as exc:
        chat(
            client,
            [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}},
            ],
        )
    assert exc.value.status_code == 400
    assert exc.value.param == "messages[0].content[1].image_url.url"


def test_a_tool_without_a_name_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as exc:
        chat(
            client,
            "hi",
            tools=[
                {
                    "type": "function",
                    "function": {"name": "", "parameters": {"type": "object", "properties": {}}},
                }
            ],
        )
    assert exc.value.status_code == 400
    assert exc.value.param == "tools[0].function.name"


def test_empty_messages_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=MODEL, messages=[])
    assert exc.value.status_code == 400
    assert_names_field(exc.value, "messages")


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as exc:
        chat(client, "hi", model="no-such-model")
    assert exc.value.status_code == 404
    assert exc.value.code == "model_not_found"


def test_upstream_401_is_authentication_error(client):
    with pytest.raises(openai.AuthenticationError) as exc:
        chat(client, "@fake:api_error:401")
    assert exc.value.status_code == 401
    msg = error_message(exc.value)
    assert "claude-max-proxy login" in msg, msg


def test_upstream_429_is_rate_limit_error(client):
    with pytest.raises(openai.RateLimitError) as exc:
        chat(client, "@fake:api_error:429")
    assert exc.value.status_code == 429


def test_upstream_529_is_a_server_error(client):
    with pytest.raises(openai.APIStatusError) as exc:
        chat(client, "@fake:api_error:529")
    assert isinstance(exc.value, openai.InternalServerError)
    assert exc.value.status_code in (502, 503)


def test_error_bodies_are_openai_error_objects(client):
    with pytest.raises(openai.BadRequestError) as exc:
        chat(client, "hi", n=2)
    body = exc.value.body
    assert isinstance(body, dict), body
    assert isinstance(body.get("message"), str) and body["message"]
    assert isinstance(body.get("type"), str) and body["type"]
    assert "param" in body and "code" in body
