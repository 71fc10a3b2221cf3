"""The official Python SDK (`mcp` on PyPI) as a client of the gateway: list the tools, discover,
get a schema, execute; prints one JSON object for the Rust test to check.

Usage: python python_client.py URL MODE   (MODE: legacy = 2025-11-25 initialize + session,
                                            or a modern version such as 2026-07-28)
"""

import asyncio
import json
import sys

from mcp import Client


def text(result):
    return result.content[0].text if result.content else ""


async def main(url: str, mode: str) -> None:
    async with Client(url, mode=mode) as client:
        tools = await client.list_tools()
        discover = await client.call_tool("discover_tools", {"query": "echo"})
        schema = await client.call_tool("get_tool_schema", {"tool_name": "echo"})
        executed = await client.call_tool(
            "execute_tool",
            {"tool_name": "echo", "arguments": {"message": "from the Python SDK"}},
        )
        print(json.dumps({
            "protocol": client.protocol_version,
            "tools": [tool.name for tool in tools.tools],
            "discover": text(discover),
            "schema": text(schema),
            "execute": text(executed),
            "execute_is_error": bool(executed.is_error),
        }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
