"""Model ids and token counts as clients send them, with the official SDKs as clients:
the REAL claude CLI 2.1.332 behind the daemon talks to the test suite's mock Messages API.

tests/models_and_tokens.rs starts the mock and the daemon (with `model_map` sending
`gpt-4o` to `sonnet`) and runs this module with PROXY_BASE_URL set to the daemon's root.
"""

from __future__ import annotations

import os

import pytest

BASE_URL = os.environ.get("PROXY_BASE_URL")
if not BASE_URL:
    pytest.skip("PROXY_BASE_URL is not set (tests/models_and_tokens.rs sets it)",
                allow_module_level=True)

import anthropic  # noqa: E402
import openai  # noqa: E402

REPLY = "Hello from the mock. You said: "


def openai_client() -> openai.OpenAI:
    return openai.OpenAI(base_url=BASE_URL + "/v1", api_key="unused", max_retries=0)


def anthropic_client() -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=BASE_URL, api_key="unused", max_retries=0)


@pytest.mark.parametrize("model", ["claude-sonnet-4-20250514", "claude-haiku-4-5",
                                   "claude-opus-4-6", "claude-sonnet-4-5-20250929"])
def test_claude_ids_clients_default_to_answer(model):
    answer = openai_client().chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi " + model}])
    assert answer.choices[0].message.content == REPLY + "hi " + model
    assert answer.model == model


def test_an_unknown_claude_id_is_not_found_for_both_sdks():
    with pytest.raises(openai.NotFoundError) as raised:
        openai_client().chat.completions.create(
            model="claude-zzz-9", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.code == "model_not_found"
    with pytest.raises(anthropic.NotFoundError) as raised:
        anthropic_client().messages.create(
            model="claude-zzz-9", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.body["error"]["type"] == "not_found_error"


def test_a_mapped_openai_name_is_served_by_its_claude_model():
    answer = openai_client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "mapped"}])
    assert answer.choices[0].message.content == REPLY + "mapped"
    assert answer.model == "claude-sonnet-5-5"
    with pytest.raises(openai.NotFoundError):
        openai_client().chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "hi"}])


def test_openai_sdk_lists_models_with_their_limits():
    models = {model.id: model for model in openai_client().models.list()}
    assert {"opus", "sonnet", "claude-opus-4", "claude-sonnet-4-5", "gpt-4o"} <= set(models)
    sonnet = models["claude-sonnet-4-5"].model_dump()
    assert sonnet["family"] == "sonnet"
    assert sonnet["context_length"] == 200_000
    assert sonnet["max_output_tokens"] == 64_000
    assert models["gpt-4o"].model_dump()["context_length"] == 1_000_000
    assert openai_client().models.retrieve("claude-sonnet-4-20250514").id == (
        "claude-sonnet-4-20250514")


def test_anthropic_sdk_lists_models_with_the_models_api_fields():
    models = {model.id: model for model in anthropic_client().models.list()}
    opus = models["claude-opus-4"]
    assert opus.type == "model"
    assert opus.max_input_tokens == 1_000_000
    assert opus.max_tokens == 128_000
    one = anthropic_client().models.retrieve("claude-haiku-4-5")
    assert (one.max_input_tokens, one.max_tokens) == (200_000, 64_000)


def test_anthropic_sdk_counts_tokens():
    client = anthropic_client()
    count = client.messages.count_tokens(
        model="claude-sonnet-4", system="You are a scientist",
        messages=[{"role": "user", "content": "Hello, Claude"}])
    assert count.input_tokens == 14
    with_tools = client.messages.count_tokens(
        model="claude-sonnet-4",
        tools=[{"name": "get_weather", "description": "Get the current weather in a given location",
                "input_schema": {"type": "object", "properties": {"location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA"}},
                    "required": ["location"]}}],
        messages=[{"role": "user", "content": "What's the weather like in San Francisco?"}])
    assert with_tools.input_tokens == 403
    raw = client.messages.with_raw_response.count_tokens(
        model="claude-sonnet-4", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-token-count-estimate"] == "cl100k_base"


def test_langchain_anthropic_counts_tokens():
    from langchain_anthropic import ChatAnthropic
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    chat = ChatAnthropic(model="claude-sonnet-4-5", base_url=BASE_URL, api_key="unused",
                         max_retries=0)
    short = chat.get_num_tokens_from_messages([HumanMessage("Hello, Claude")])
    longer = chat.get_num_tokens_from_messages([
        SystemMessage("You are a scientist"),
        HumanMessage("Hello, Claude"),
        AIMessage("Hello! What shall we look into?"),
        HumanMessage("안녕하세요! 1부터 10까지 세어주세요"),
    ])
    assert isinstance(short, int) and short > 0
    assert longer > short
