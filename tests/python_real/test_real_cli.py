"""The official `openai` SDK's structured outputs against claude-max-proxy running the REAL
claude CLI 2.1.332, whose upstream is the test suite's mock Messages API (it answers a
request offering the CLI's StructuredOutput tool by calling it with the last user text when
that is a JSON object).

tests/structured_output.rs starts the mock and the daemon and runs this module with
PROXY_BASE_URL and MOCK_BASE_URL set; the tests of instructions the proxy adds check what
reached upstream (mock_upstream.py).
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

import mock_upstream  # noqa: E402

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


JSON_INSTRUCTION = ("Answer with exactly one valid JSON object and nothing else: no prose "
                    "before or after it, no Markdown code fences.")


def test_json_object_mode_asks_for_json():
    # The CLI has no JSON mode without a schema: the proxy asks for JSON in the system
    # prompt, after the client's own, and only when json_object is asked for.
    completion = client().chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "You are terse."},
                  {"role": "user", "content": "json mode 5e21"}],
        response_format={"type": "json_object"},
    )
    assert completion.choices[0].message.content == \
        "Hello from the mock. You said: json mode 5e21"
    (upstream,) = mock_upstream.requests_saying("json mode 5e21")
    system = mock_upstream.system_text(upstream)
    assert f"You are terse.\n\n{JSON_INSTRUCTION}" in system, system

    client().chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "You are terse."},
                  {"role": "user", "content": "text mode 5e21"}],
    )
    (plain,) = mock_upstream.requests_saying("text mode 5e21")
    assert "You are terse." in mock_upstream.system_text(plain)
    assert "JSON" not in mock_upstream.system_text(plain)


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


def test_tool_choice_and_parallel_tool_calls_reach_upstream_as_instructions():
    # No upstream parameter carries them through the CLI: the proxy words them in the
    # system prompt, for the tools as upstream names them.
    client().chat.completions.create(
        model=MODEL, tools=WEATHER, tool_choice="required",
        messages=[{"role": "user", "content": 'choice 9d4\nCALL get_weather {"city": "Oslo"}'}],
    )
    (required,) = mock_upstream.requests_saying("choice 9d4")
    system = mock_upstream.system_text(required)
    assert "You must answer by calling one or more of the available tools." in system, system
    assert "Call at most one tool per answer." not in system, system

    client().chat.completions.create(
        model=MODEL, tools=WEATHER, parallel_tool_calls=False,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=[{"role": "user", "content": 'named 9d4\nCALL get_weather {"city": "Oslo"}'}],
    )
    (named,) = mock_upstream.requests_saying("named 9d4")
    (tool,) = [n for n in mock_upstream.tool_names(named) if n.endswith("__get_weather")]
    system = mock_upstream.system_text(named)
    assert f"You must answer by calling the tool `{tool}`." in system, system
    assert "Call at most one tool per answer." in system, system

    client().chat.completions.create(
        model=MODEL, tools=WEATHER,
        messages=[{"role": "user", "content": 'auto 9d4\nCALL get_weather {"city": "Oslo"}'}],
    )
    (auto,) = mock_upstream.requests_saying("auto 9d4")
    system = mock_upstream.system_text(auto)
    assert "You must answer by calling" not in system, system
    assert "Call at most one tool" not in system, system


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
