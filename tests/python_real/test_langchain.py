"""LangChain's `ChatOpenAI` (langchain-openai) against claude-max-proxy running the REAL
claude CLI 2.1.332, whose upstream is the test suite's mock Messages API: a user line
`CALL <function> <json>` makes it call that client tool, tool results come back as
`Results: <tool_call_id>=<result>`, and a request offering the CLI's StructuredOutput tool
(`response_format: json_schema`) is answered by calling it with the last user text when
that is a JSON object.

tests/structured_output.rs starts the mock and the daemon and runs this module with
PROXY_BASE_URL and MOCK_BASE_URL set (mock_upstream.py reads what reached upstream).
"""

from __future__ import annotations

import json
import os
from functools import reduce
from operator import add

import pytest

BASE_URL = os.environ.get("PROXY_BASE_URL")
if not BASE_URL:
    pytest.skip("PROXY_BASE_URL is not set (tests/structured_output.rs sets it)",
                allow_module_level=True)

from langchain_core.messages import (  # noqa: E402
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    ToolMessage,
)
from langchain_core.tools import tool  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from pydantic import BaseModel  # noqa: E402

import mock_upstream  # noqa: E402

MODEL = "claude-sonnet-4"


class Person(BaseModel):
    """A person."""

    name: str
    age: int


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return {"Oslo": "5C", "Paris": "12C"}[city]


def chat() -> ChatOpenAI:
    return ChatOpenAI(model=MODEL, base_url=BASE_URL, api_key="unused", max_retries=0)


def test_bind_tools_round_trip():
    llm = chat().bind_tools([get_weather])
    messages = [HumanMessage('weather?\nCALL get_weather {"city": "Oslo"}')]
    first = llm.invoke(messages)
    assert isinstance(first, AIMessage)
    assert first.response_metadata["finish_reason"] == "tool_calls"
    assert len(first.tool_calls) == 1
    call = first.tool_calls[0]
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "Oslo"}
    assert call["id"]
    assert not first.invalid_tool_calls

    # Running the tool with the call gives the ToolMessage that answers it.
    result = get_weather.invoke(call)
    assert isinstance(result, ToolMessage)
    assert result.tool_call_id == call["id"]
    second = llm.invoke([*messages, first, result])
    assert second.content == f"Results: {call['id']}=5C"
    assert not second.tool_calls
    assert second.response_metadata["finish_reason"] == "stop"


def test_streamed_bind_tools_round_trip():
    llm = chat().bind_tools([get_weather])
    messages = [HumanMessage('CALL get_weather {"city": "Paris"}')]
    chunks = list(llm.stream(messages))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert sum(1 for c in chunks if c.tool_call_chunks) > 1, "the call arrives in pieces"
    first = reduce(add, chunks)
    assert len(first.tool_call_chunks) == 1
    piece = first.tool_call_chunks[0]
    assert piece["name"] == "get_weather"
    assert json.loads(piece["args"]) == {"city": "Paris"}
    assert len(first.tool_calls) == 1
    call = first.tool_calls[0]
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "Paris"}
    assert call["id"] == piece["id"] and call["id"]
    assert first.response_metadata["finish_reason"] == "tool_calls"

    result = get_weather.invoke(call)
    assert result.tool_call_id == call["id"]
    second = reduce(add, llm.stream([*messages, first, result]))
    assert second.content == f"Results: {call['id']}=12C"
    assert not second.tool_call_chunks
    assert second.response_metadata["finish_reason"] == "stop"


def test_with_structured_output_json_schema():
    structured = chat().with_structured_output(Person)
    person = structured.invoke([HumanMessage(json.dumps({"name": "Ada", "age": 36}))])
    assert person == Person(name="Ada", age=36)


# langchain-openai model_dumps the SDK's streamed ParsedChatCompletion, whose `parsed` is typed
# None, and pydantic warns about the Person in it (langchain-ai/langchain#35538, client side).
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
def test_streamed_with_structured_output_json_schema():
    structured = chat().with_structured_output(Person)
    outputs = list(structured.stream(json.dumps({"name": "Grace", "age": 45})))
    assert outputs[-1] == Person(name="Grace", age=45)


def test_with_structured_output_include_raw():
    structured = chat().with_structured_output(Person, include_raw=True)
    out = structured.invoke(json.dumps({"name": "Alan", "age": 41}))
    assert out["parsing_error"] is None
    assert out["parsed"] == Person(name="Alan", age=41)
    assert json.loads(out["raw"].content) == {"name": "Alan", "age": 41}


def test_with_structured_output_function_calling():
    # Sent as the one tool `Person`, forced with tool_choice and parallel_tool_calls false.
    # No upstream parameter carries those through the CLI: the proxy words them in the
    # system prompt, which is checked upstream. (The mock, a stand-in for the model, is
    # steered to call the tool by the CALL line.)
    structured = chat().with_structured_output(Person, method="function_calling")
    person = structured.invoke('forced 71b\nCALL Person {"name": "Ada", "age": 36}')
    assert person == Person(name="Ada", age=36)
    (upstream,) = mock_upstream.requests_saying("forced 71b")
    (tool,) = [n for n in mock_upstream.tool_names(upstream) if n.startswith("mcp__")]
    assert tool.endswith("__Person")
    system = mock_upstream.system_text(upstream)
    assert f"You must answer by calling the tool `{tool}`." in system, system
    assert "Call at most one tool per answer." in system, system
