"""The official `anthropic` SDK against claude-max-proxy's /v1/messages and /v1/models, with
the REAL claude CLI 2.1.332 behind it talking to the test suite's mock Messages API (it
echoes the last user text, answers `CALL <fn> <json>` lines with tool_use blocks and tool
results with `Results: <id>=<text>`).

tests/messages_api.rs starts the mock and the daemon and runs this module with
PROXY_BASE_URL set (the daemon's root: the SDK adds /v1/messages itself).
"""

from __future__ import annotations

import base64
import os
import struct
import zlib

import pytest

BASE_URL = os.environ.get("PROXY_BASE_URL")
if not BASE_URL:
    pytest.skip("PROXY_BASE_URL is not set (tests/messages_api.rs sets it)",
                allow_module_level=True)

import anthropic  # noqa: E402

MODEL = "claude-sonnet-4"
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                     "required": ["city"]},
}


def client(**kwargs) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=BASE_URL, api_key="unused", max_retries=0, **kwargs)


def png_pixel() -> str:
    """A valid 1x1 PNG, base64."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    raw += chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    return base64.b64encode(raw).decode()


def test_create_returns_a_message():
    message = client().messages.create(
        model=MODEL, max_tokens=256, system="Be brief.",
        messages=[{"role": "user", "content": "hello sdk"}])
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from the mock. You said: hello sdk"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_stream_gives_text_events_and_the_final_message():
    with client().messages.stream(
            model=MODEL, max_tokens=256,
            messages=[{"role": "user", "content": "stream please"}]) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1, "the text arrives in pieces"
    assert "".join(pieces) == "Hello from the mock. You said: stream please"
    assert final.content[0].text == "".join(pieces)
    assert final.stop_reason == "end_turn"


def test_a_tool_round_trip():
    sdk = client()
    question = {"role": "user", "content": 'weather?\nCALL get_weather {"city": "Oslo"}'}
    first = sdk.messages.create(model=MODEL, max_tokens=256, tools=[WEATHER],
                                messages=[question])
    assert first.stop_reason == "tool_use"
    call = next(block for block in first.content if block.type == "tool_use")
    assert call.name == "get_weather"
    assert call.input == {"city": "Oslo"}
    second = sdk.messages.create(
        model=MODEL, max_tokens=256, tools=[WEATHER],
        messages=[question,
                  {"role": "assistant", "content": first.content},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                "content": "rainy, 4 degrees"}]}])
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == f"Results: {call.id}=rainy, 4 degrees"


def test_a_streamed_tool_call_accumulates_its_input():
    with client().messages.stream(
            model=MODEL, max_tokens=256, tools=[WEATHER],
            messages=[{"role": "user",
                       "content": 'CALL get_weather {"city": "Lima"}'}]) as stream:
        final = stream.get_final_message()
    call = next(block for block in final.content if block.type == "tool_use")
    assert call.input == {"city": "Lima"}
    assert final.stop_reason == "tool_use"


def test_an_image_goes_through():
    message = client().messages.create(
        model=MODEL, max_tokens=256,
        messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": png_pixel()}},
            {"type": "text", "text": "what is this?"}]}])
    assert message.content[0].text == "Hello from the mock. You said: what is this?"


def test_errors_map_to_the_sdk_exceptions():
    with pytest.raises(anthropic.NotFoundError) as not_found:
        client().messages.create(model="gpt-nope", max_tokens=10,
                                 messages=[{"role": "user", "content": "hi"}])
    assert "GET /v1/models" in not_found.value.message
    with pytest.raises(anthropic.BadRequestError) as bad:
        client().messages.create(model=MODEL, max_tokens=10,
                                 messages=[{"role": "user", "content": [
                                     {"type": "image", "source": {
                                         "type": "base64", "media_type": "image/bmp",
                                         "data": "AAAA"}}]}])
    assert bad.value.status_code == 400
    assert bad.value.body["error"]["type"] == "invalid_request_error"


def test_models_list_and_retrieve():
    sdk = client()
    models = list(sdk.models.list())
    ids = [model.id for model in models]
    assert MODEL in ids and "opus" in ids
    assert all(model.type == "model" and model.display_name == model.id for model in models)
    assert models[0].created_at.year == 2025
    # The SDK's pager follows `after_id` two at a time and sees the same list.
    assert [model.id for model in sdk.models.list(limit=2)] == ids
    assert sdk.models.retrieve(MODEL).id == MODEL
    with pytest.raises(anthropic.NotFoundError) as not_found:
        sdk.models.retrieve("gpt-nope")
    assert not_found.value.body["error"]["type"] == "not_found_error"
