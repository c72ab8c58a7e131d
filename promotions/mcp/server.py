"""The MCP server (the official SDK's low-level `Server`): lists the tools and runs a
call for the pod the endpoint authenticated. The SDK speaks the protocol, every
revision it knows (the initialize handshake up to 2025-11-25, and 2026-07-28's
self-contained requests); the tools live in `tools`."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from asgiref.sync import sync_to_async
from mcp import types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server

from ..models import Pod
from .tools import call_tool, tool_specs

# Where the endpoint leaves the authenticated pod in each request's ASGI scope.
POD_SCOPE_KEY = "patchgate.pod"

INSTRUCTIONS = (
    "Patchgate commits whole files into Git repositories for you, as one reviewed commit per call of "
    "promote_files, within the repositories, branches and paths your key is granted. Read a file with get_file "
    "before changing it and send its sha back as base_sha, so that nobody's work is overwritten. Follow a "
    "promotion with get_promotion; list_promotions finds earlier ones."
)


def _version() -> str:
    try:
        return version("patchgate")
    except PackageNotFoundError:
        return ""


async def _list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    specs = await sync_to_async(tool_specs)()
    return types.ListToolsResult(tools=[spec.tool for spec in specs.values()])


async def _call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
    pod = ctx.request.scope[POD_SCOPE_KEY] if ctx.request is not None else None
    if not isinstance(pod, Pod):  # only reachable if the endpoint's authentication were bypassed
        raise PermissionError("no authenticated pod")
    # The request's own thread (and its database connection): services are synchronous Django code.
    return await sync_to_async(call_tool, thread_sensitive=True)(pod, params.name, params.arguments)


@functools.cache
def mcp_server() -> Server[Any]:
    """One server per process; it keeps no state between requests."""
    return Server(
        "patchgate",
        title="Patchgate",
        version=_version(),
        instructions=INSTRUCTIONS,
        on_list_tools=_list_tools,
        on_call_tool=_call_tool,
    )
