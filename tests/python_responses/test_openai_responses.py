"""The official `openai` SDK's Responses API (`responses.create`, `responses.stream`,
`retrieve`, `delete`, `input_items.list`) against
claude-max-proxy's /v1/responses, with the REAL claude CLI 2.1.332 behind it talking to the
test suite's mock Messages API (it echoes the last user text, answers `CALL <fn> <json>`
lines with tool calls and tool results with `Results: <id>=<text>`).

tests/responses_api.rs starts the mock and the daemon and runs this module with
PROXY_BASE_URL set.
"""

from __future__ import annotations

import json
import os

import pytest

BASE_URL = os.environ.get("PROXY_BASE_URL")
if not BASE_URL:
    pytest.skip("PROXY_BASE_URL is not set (tests/responses_api.rs sets it)",
                allow_module_level=True)

import openai  # noqa: E402
from openai import OpenAI  # noqa: E402

MODEL = "claude-sonnet-4"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]},
}


def client() -> OpenAI:
    return OpenAI(base_url=BASE_URL, api_key="unused", max_retries=0)


def test_create_returns_output_text():
    response = client().responses.create(model=MODEL, input="hello sdk",
                                         instructions="Be brief.")
    assert response.status == "completed"
    assert response.output_text == "Hello from the mock. You said: hello sdk"
    assert response.usage.output_tokens > 0


def test_stream_gives_deltas_and_the_final_response():
    with client().responses.stream(model=MODEL, input="stream please") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert len(deltas) > 1, "the text arrives in pieces"
    assert "".join(deltas) == "Hello from the mock. You said: stream please"
    assert final.output_text == "".join(deltas)
    assert final.status == "completed"


def test_function_call_and_its_output():
    sdk = client()
    first = sdk.responses.create(model=MODEL, tools=[WEATHER],
                                 input='weather?\nCALL get_weather {"city": "Oslo"}')
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "Oslo"}
    # The whole conversation in `input`, the way store-less clients send it.
    second = sdk.responses.create(
        model=MODEL, tools=[WEATHER], store=False,
        input=[{"role": "user", "content": 'weather?\nCALL get_weather {"city": "Oslo"}'},
               {"type": "function_call", "call_id": calls[0].call_id,
                "name": "get_weather", "arguments": calls[0].arguments},
               {"type": "function_call_output", "call_id": calls[0].call_id,
                "output": "cold"}])
    assert second.output_text == f"Results: {calls[0].call_id}=cold"


def weather_call(sdk: OpenAI, city: str):
    """A response whose answer is a get_weather call, and that call."""
    first = sdk.responses.create(model=MODEL, tools=[WEATHER],
                                 input=f'CALL get_weather {{"city": "{city}"}}')
    return first, next(item for item in first.output if item.type == "function_call")


def test_previous_response_id_continues():
    sdk = client()
    first, call = weather_call(sdk, "Lima")
    second = sdk.responses.create(
        model=MODEL, tools=[WEATHER], previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "mild"}])
    assert second.output_text == f"Results: {call.call_id}=mild"
    with pytest.raises(openai.NotFoundError):
        sdk.responses.create(model=MODEL, input="hi", previous_response_id="resp_unknown")


def test_retrieve_and_delete():
    sdk = client()
    made = sdk.responses.create(model=MODEL, input="keep this")
    read = sdk.responses.retrieve(made.id)
    assert read.id == made.id
    assert read.output_text == made.output_text
    sdk.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(made.id)


def test_input_items_list_and_page():
    sdk = client()
    first, call = weather_call(sdk, "Rome")
    second = sdk.responses.create(
        model=MODEL, tools=[WEATHER], previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "warm"},
               {"role": "user", "content": "And tomorrow?"}])
    # The SDK's pager follows `after` one item at a time, oldest first.
    items = list(sdk.responses.input_items.list(second.id, limit=1, order="asc"))
    assert [item.type for item in items] == ["function_call_output", "message"]
    assert items[0].call_id == call.call_id
    assert items[0].output == "warm"
    assert items[1].role == "user"
    assert items[1].content[0].text == "And tomorrow?"
    newest = sdk.responses.input_items.list(second.id)
    assert [item.id for item in newest.data] == [item.id for item in reversed(items)]
    assert not newest.has_more
    first_items = sdk.responses.input_items.list(first.id).data
    assert len(first_items) == 1 and first_items[0].content[0].type == "input_text"
    with pytest.raises(openai.NotFoundError):
        sdk.responses.input_items.list("resp_unknown")


def test_a_streamed_function_call():
    with client().responses.stream(model=MODEL, tools=[WEATHER],
                                   input='CALL get_weather {"city": "Quito"}') as stream:
        final = stream.get_final_response()
    call = next(item for item in final.output if item.type == "function_call")
    assert json.loads(call.arguments) == {"city": "Quito"}
