"""The official `openai` SDK's structured outputs against claude-max-proxy running the REAL
claude CLI 2.1.332, whose upstream is the test suite's mock Messages API (it answers a
request offering the CLI's StructuredOutput tool by calling it with the last user text when
that is a JSON object).

tests/structured_output.rs starts the mock and the daemon and runs this module with
PROXY_BASE_URL set.
"""

from __future__ import annotations

import json
import os

import pytest

BASE_URL = os.environ.get("PROXY_BASE_URL")
if not BASE_URL:
    pytest.skip("PROXY_BASE_URL is not set (tests/structured_output.rs sets it)",
                allow_module_level=True)

from openai import OpenAI  # noqa: E402
from pydantic import BaseModel  # noqa: E402

MODEL = "claude-sonnet-4"


class Person(BaseModel):
    name: str
    age: int


def client() -> OpenAI:
    return OpenAI(base_url=BASE_URL, api_key="unused", max_retries=0)


def test_parse_returns_the_pydantic_model():
    completion = client().chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": json.dumps({"name": "Ada", "age": 36})}],
        response_format=Person,
    )
    message = completion.choices[0].message
    assert message.parsed == Person(name="Ada", age=36)
    assert json.loads(message.content) == {"name": "Ada", "age": 36}
    assert completion.choices[0].finish_reason == "stop"


def test_streamed_parse_gets_the_same_object():
    with client().chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": json.dumps({"name": "Grace", "age": 45})}],
        response_format=Person,
    ) as stream:
        pieces = [e for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert len(pieces) > 1, "the JSON arrives in pieces"
    assert final.choices[0].message.parsed == Person(name="Grace", age=45)


def test_json_object_mode_asks_for_json():
    completion = client().chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hello"}],
        response_format={"type": "json_object"},
    )
    assert completion.choices[0].message.content


PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ"
         "/pLvAAAAAElFTkSuQmCC")


def test_an_image_part_is_answered():
    completion = client().chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
            {"type": "text", "text": "what color?"},
        ]}],
    )
    assert completion.choices[0].message.content == "Hello from the mock. You said: what color?"


def test_a_broken_image_is_a_400_naming_the_param():
    with pytest.raises(openai_errors().BadRequestError) as caught:
        client().chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}},
                {"type": "text", "text": "hi"},
            ]}],
        )
    assert caught.value.body["param"] == "messages[0].content[0].image_url.url"


def openai_errors():
    import openai
    return openai


WEATHER = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}]


def test_a_tool_round_trip():
    messages = [{"role": "user", "content": 'weather?\nCALL get_weather {"city": "Oslo"}'}]
    first = client().chat.completions.create(model=MODEL, messages=messages, tools=WEATHER)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "5C"})
    second = client().chat.completions.create(model=MODEL, messages=messages, tools=WEATHER)
    assert second.choices[0].message.content == f"Results: {call.id}=5C"


def test_streamed_tool_calls_accumulate():
    stream = client().chat.completions.create(
        model=MODEL, stream=True, tools=WEATHER,
        messages=[{"role": "user", "content": 'CALL get_weather {"city": "Paris"}'}],
    )
    arguments = ""
    names = []
    for chunk in stream:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if call.function and call.function.name:
                names.append(call.function.name)
            if call.function and call.function.arguments:
                arguments += call.function.arguments
    assert names == ["get_weather"]
    assert json.loads(arguments) == {"city": "Paris"}
