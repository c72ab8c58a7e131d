"""`/mcp`: the MCP endpoint, a Django view served by the same web processes as the
REST API (`gunicorn config.wsgi`, `make run`).

Stateless Streamable HTTP with JSON responses: every POST is one self-contained
exchange, so any web process answers any request. The view checks the pod's key,
then hands the request to the official SDK's Streamable HTTP transport, run to
completion on an event loop of its own (asgiref's async_to_sync), and returns its
answer. Tools run back on this request's thread through
`sync_to_async(thread_sensitive=True)`, with its database connection, as a REST
view would. Staying on WSGI keeps the REST API's long `wait` from blocking other
requests, which Django's ASGI handler would (it runs sync views on one thread)."""

from __future__ import annotations

from typing import Any

import anyio
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.types import INVALID_REQUEST
from starlette.types import Message

from ..auth import PodKeyAuthentication, pod_for_key
from ..models import Pod
from .server import POD_SCOPE_KEY, mcp_server

CHALLENGE = 'Bearer realm="patchgate"'  # as the REST API's PodKeyAuthentication
# Not copied from the SDK's answer: hop-by-hop headers (PEP 3333 forbids them) and the length, Django's to set.
SKIPPED_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@csrf_exempt  # a bearer key, no cookie: nothing for a cross-site request to ride on
def mcp_endpoint(request: HttpRequest) -> HttpResponse:
    presented, pod = _authenticate(request)
    if pod is None:
        return _unauthorized(presented)
    if request.method != "POST":
        # Stateless: no stream of server-initiated messages to open (GET), no session to end (DELETE).
        return _refused(405, "Method not allowed: POST one JSON-RPC message per request.", {"Allow": "POST"})
    try:
        body = request.body
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return _refused(413, f"Request body too large: at most {limit} bytes.")
    status, headers, content = async_to_sync(_exchange)(_asgi_scope(request, pod), body)
    response = HttpResponse(content, status=status)
    for name, value in headers:
        if name not in SKIPPED_HEADERS:
            response[name] = value
    return response


def _authenticate(request: HttpRequest) -> tuple[bool, Pod | None]:
    """(whether a bearer key was presented, the pod it belongs to)."""
    keyword, _, raw_key = request.headers.get("Authorization", "").partition(" ")
    if keyword.lower() != PodKeyAuthentication.keyword.lower() or not raw_key.strip():
        return False, None
    return True, pod_for_key(raw_key)


def _unauthorized(presented: bool) -> JsonResponse:
    # RFC 6750 section 3: an error code only when a token was presented; unknown, revoked
    # and malformed keys answer alike.
    challenge = CHALLENGE
    if presented:
        message = "Invalid API key."
        challenge += ', error="invalid_token"'
    else:
        message = "Send the pod's API key as 'Authorization: Bearer pgk_...'."
    return _refused(401, message, {"WWW-Authenticate": challenge})


def _refused(status: int, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    """An HTTP refusal whose body is a JSON-RPC error, which MCP clients show as it is."""
    error = {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": message}}
    return JsonResponse(error, status=status, headers=headers)


def _asgi_scope(request: HttpRequest, pod: Pod) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.path.encode(),
        "root_path": "",
        "query_string": request.META.get("QUERY_STRING", "").encode("latin-1"),
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in request.headers.items()
        ],
        "server": (request.META.get("SERVER_NAME", ""), int(request.META.get("SERVER_PORT") or 80)),
        "client": (request.META.get("REMOTE_ADDR", ""), 0),
        POD_SCOPE_KEY: pod,
    }


async def _exchange(scope: dict[str, Any], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Serve one request through the SDK's stateless transport; (status, headers, body)."""
    manager = StreamableHTTPSessionManager(
        app=mcp_server(),
        stateless=True,
        json_response=True,
        max_request_body_size=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
    )
    start: dict[str, Any] = {}
    chunks: list[bytes] = []
    answered = anyio.Event()
    body_sent = False

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()  # the client "disconnects" only once it has its answer
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                answered.set()

    async with manager.run():
        await manager.handle_request(scope, receive, send)
    headers = [(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in start.get("headers", [])]
    return start.get("status", 500), headers, b"".join(chunks)
