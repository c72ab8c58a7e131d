"""The MCP endpoint (`/mcp`): the pod API as Model Context Protocol tools, over
stateless Streamable HTTP, built on the official MCP Python SDK. The tools are thin
wrappers over the same services and selectors as the REST API."""
