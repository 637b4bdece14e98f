"""What reached upstream: the Messages API bodies the mock (tests/support/mock_anthropic.rs)
recorded, read from its `GET /mock/requests`. tests/structured_output.rs sets MOCK_BASE_URL.
"""

from __future__ import annotations

import json
import os
import urllib.request


def bodies() -> list[dict]:
    """Every POST /v1/messages body the mock has seen, oldest first."""
    base = os.environ["MOCK_BASE_URL"]
    with urllib.request.urlopen(f"{base}/mock/requests", timeout=10) as response:
        return json.load(response)


def requests_saying(text: str) -> list[dict]:
    """The upstream requests whose messages carry `text` (a marker unique to one test)."""
    return [b for b in bodies() if text in json.dumps(b.get("messages", []))]


def system_text(body: dict) -> str:
    """The upstream system prompt as one string (the CLI sends a list of text blocks)."""
    system = body.get("system", "")
    if isinstance(system, str):
        return system
    return "\n".join(block.get("text", "") for block in system)


def tool_names(body: dict) -> list[str]:
    return [tool["name"] for tool in body.get("tools", [])]
