"""An agent framework's tool loop against claude-max-proxy: openai-agents (the OpenAI Agents
SDK) runs an agent with a Python function tool, streamed, through chat completions and
through the Responses API, for five turns each (every turn a tool call, then its result).

The daemon runs the REAL claude CLI 2.1.332 against the test suite's mock Messages API (it
calls the tool once per `CALL get_weather {...}` line of the last user text, and answers
tool results with `Results: <id>=<result>`). Every step after the first must be served by
the one CLI process that holds the conversation: /health's `served` counters say how each
request was served.

tests/agent_loops.rs starts the mock and the daemon and runs this module with
PROXY_BASE_URL set (the daemon's /v1).
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request

import pytest

BASE_URL = os.environ.get("PROXY_BASE_URL")
if not BASE_URL:
    pytest.skip("PROXY_BASE_URL is not set (tests/agent_loops.rs sets it)",
                allow_module_level=True)

from agents import (  # noqa: E402
    Agent,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI  # noqa: E402

# Traces would go to OpenAI; nothing may leave this machine.
set_tracing_disabled(True)

MODEL = "claude-sonnet-4"
CALLS: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    CALLS.append(city)
    return f"{len(CALLS)}8C in {city}"


def served() -> dict:
    root = BASE_URL.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/health") as response:
        return json.load(response)["served"]


async def five_turns(model) -> list[str]:
    agent = Agent(name="weather", instructions="Answer with the tool's result.",
                  tools=[get_weather], model=model)
    history: list = []
    answers = []
    for turn in range(1, 6):
        history.append({"role": "user",
                        "content": f"Turn {turn}: weather?\nCALL get_weather {{\"city\":\"Paris\"}}"})
        result = Runner.run_streamed(agent, history)
        async for _ in result.stream_events():
            pass
        answers.append(result.final_output)
        history = result.to_input_list()
    return answers


def run_loop(model) -> tuple[list[str], int, int]:
    before = served()
    CALLS.clear()
    answers = asyncio.run(five_turns(model))
    after = served()
    started = (after["cold"] + after["warm"]) - (before["cold"] + before["warm"])
    live = after["live"] - before["live"]
    return answers, started, live


def client() -> AsyncOpenAI:
    return AsyncOpenAI(base_url=BASE_URL, api_key="unused", max_retries=0)


def test_chat_completions_agent_loop_runs_on_one_cli():
    answers, started, live = run_loop(
        OpenAIChatCompletionsModel(model=MODEL, openai_client=client()))
    assert CALLS == ["Paris"] * 5
    for turn, answer in enumerate(answers, start=1):
        assert answer.startswith("Results: "), answer
        assert f"{turn}8C in Paris" in answer, answer
    assert started == 1, f"one CLI for the whole loop, started {started}"
    assert live == 9, f"every later step served live, got {live}"


def test_responses_agent_loop_runs_on_one_cli():
    answers, started, live = run_loop(OpenAIResponsesModel(model=MODEL, openai_client=client()))
    assert CALLS == ["Paris"] * 5
    for turn, answer in enumerate(answers, start=1):
        assert f"{turn}8C in Paris" in answer, answer
    assert started == 1, f"one CLI for the whole loop, started {started}"
    assert live == 9, f"every later step served live, got {live}"
