"""The MCP endpoint as an agent host meets it: the official SDK's client over real HTTP
against real web processes (the `make run` server command) on the test database, and
a real django-q2 cluster applying the promotions."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from django.conf import settings
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from promotions.api.schema import SEED_BATCH
from promotions.management.commands.serve import web_command
from promotions.models import Event, FileChange, Promotion
from tests.factories import PodFactory, RepositoryFactory
from tests.helpers import Target, database_url, wait_until_final

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MODES = ["legacy", "2026-07-28"]  # the initialize handshake (2025-11-25), and 2026-07-28's self-contained requests
TOOLS = {"promote_files", "get_promotion", "list_promotions", "get_file"}
FILE_LIMIT, BODY_LIMIT = 100_000, 300_000


# --- real web processes, for the whole module -------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def repos_root(tmp_path_factory):
    return tmp_path_factory.mktemp("repos")


@pytest.fixture(autouse=True)
def local_repos_dir(settings, repos_root):
    """The web processes outlive a test: every test's repositories go in their folder, emptied first."""
    shutil.rmtree(repos_root)
    repos_root.mkdir()
    settings.LOCAL_REPOS_DIR = repos_root
    return repos_root


class WebProcess:
    def __init__(self, port: int, log_path):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def requests_served(self, method_and_path: str) -> int:
        return self.log_path.read_text().count(f'"{method_and_path} HTTP/1.1"')


@pytest.fixture(scope="module")
def web(django_db_setup, repos_root, tmp_path_factory) -> Iterator[list[WebProcess]]:
    """Two gunicorn servers, as `make run` starts one, on the test database."""
    ports = [free_port(), free_port()]
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "LOCAL_REPOS_DIR": str(repos_root),
        # One address in every document, whichever process answers.
        "PUBLIC_URL": f"http://127.0.0.1:{ports[0]}",
        "LOG_LEVEL": "WARNING",
        # Small limits, to reach them with small requests.
        "MAX_FILE_BYTES": str(FILE_LIMIT),
        "MAX_BODY_BYTES": str(BODY_LIMIT),
    }
    logs = tmp_path_factory.mktemp("web")
    servers, processes = [], []
    for port in ports:
        server = WebProcess(port, logs / f"{port}.log")
        with open(server.log_path, "wb") as log:
            command = web_command("127.0.0.1", port, workers=1, threads=4)
            processes.append(
                subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        servers.append(server)
    try:
        for server, process in zip(servers, processes, strict=True):
            _wait_until_up(server, process)
        yield servers
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for server in servers:
            print(server.log_path.read_text()[-3000:])


def _wait_until_up(server: WebProcess, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the web process exited: {server.log_path.read_text()[-3000:]}")
        try:
            if httpx2.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the web process did not answer in {timeout}s")


# --- the SDK's client -------------------------------------------------------------


@asynccontextmanager
async def connected(
    url: str, key: str | None, mode: str = "legacy", transport: httpx2.AsyncBaseTransport | None = None
):
    headers = {"Authorization": f"Bearer {key}"} if key else None
    timeout = httpx2.Timeout(30, read=120)
    async with httpx2.AsyncClient(headers=headers, timeout=timeout, transport=transport) as http:
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client:
            yield client


def tool_calls(
    url: str, key: str, calls: list[tuple[str, dict[str, Any]]], mode: str = "legacy"
) -> list[CallToolResult]:
    """Each call in turn over one client connection (stateless: one POST each)."""

    async def calling():
        async with connected(url, key, mode) as client:
            return [await client.call_tool(name, arguments) for name, arguments in calls]

    return anyio.run(calling)


def refusal(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error, result
    return json.loads(result.content[0].text)


def promote(message: str, *files: dict[str, Any], **options: Any) -> tuple[str, dict[str, Any]]:
    return "promote_files", {"commit_message": message, "files": list(files), **options}


def text(path: str, content: str = "x\n", **extra: Any) -> dict[str, Any]:
    return {"path": path, "content": content, **extra}


@pytest.fixture
def sandbox():
    return RepositoryFactory(full_name="demo/sandbox")


@pytest.fixture
def pod(sandbox):
    pod = PodFactory(name="mcp-writer", repositories=[sandbox])
    pod.allowed_path_globs = "outputs/**\nreasoning_trace.md"
    pod.save()
    return pod


# --- the tests --------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_the_four_tools_are_listed_with_annotations_and_schemas(web, pod, mode):
    async def listing():
        async with connected(web[0].url, pod.raw_key, mode) as client:
            return client.protocol_version, (await client.list_tools()).tools

    version, tools = anyio.run(listing)
    assert version == ("2025-11-25" if mode == "legacy" else mode)
    by_name = {tool.name: tool for tool in tools}
    assert set(by_name) == TOOLS
    for name in ("get_promotion", "list_promotions", "get_file"):
        assert by_name[name].annotations.read_only_hint is True
    promote = by_name["promote_files"]
    assert promote.annotations.read_only_hint is False
    assert promote.annotations.idempotent_hint is False  # a retry is harmless only with an idempotency_key
    assert all(tool.output_schema and tool.output_schema["type"] == "object" for tool in tools)
    arguments = promote.input_schema["properties"]
    assert {"files", "commit_message", "branch", "wait", "idempotency_key"} <= set(arguments)
    assert "get_file" in arguments["files"]["items"]["properties"]["base_sha"]["description"]
    assert "conflict" in promote.description
    assert by_name["get_file"].input_schema["required"] == ["path"]


@pytest.mark.usefixtures("worker_cluster")
def test_the_seed_batch_is_one_commit_replayed_by_its_key_and_the_same_in_the_rest_api(web, pod, sandbox):
    target = Target(sandbox)
    before = target.head()
    arguments = {**SEED_BATCH.value, "wait": 25, "idempotency_key": "seed-1"}
    first, replay, reused = tool_calls(
        web[0].url,
        pod.raw_key,
        [
            ("promote_files", arguments),
            ("promote_files", arguments),
            ("promote_files", {**arguments, "commit_message": "Another change"}),
        ],
    )

    assert not first.is_error, first.content
    document = first.structured_content
    [promotion] = wait_until_final([document["id"]])
    assert promotion.status == Promotion.Status.COMMITTED and promotion.pod == pod
    assert document["status"] == "committed"
    assert [r["status"] for r in document["results"]] == ["created"] * 3
    assert [c.sha for c in target.commits(limit=2)] == [promotion.commit_sha, before]  # one commit
    assert target.read("outputs/summary.md") == b"# Summary\n"
    assert json.loads(first.content[0].text) == document

    assert replay.structured_content["id"] == document["id"]
    assert "idempotency_key 'seed-1' was already used" in refusal(reused)["detail"]
    assert Promotion.objects.count() == 1 and target.head() == promotion.commit_sha

    key = {"Authorization": f"Bearer {pod.raw_key}"}
    rest = httpx2.get(f"{web[1].url}/api/v1/promotions/{promotion.pk}", headers=key)
    [read_back] = tool_calls(web[0].url, pod.raw_key, [("get_promotion", {"id": promotion.pk})])
    assert rest.status_code == 200 and rest.json() == read_back.structured_content == replay.structured_content
    # The audit trail names the pod, as for a REST submission.
    assert Event.objects.filter(promotion=promotion, actor_pod=pod).exists()


def test_reads_give_a_promotion_a_page_of_them_and_a_file_with_its_sha(web, pod, sandbox):
    target = Target(sandbox)
    target.commit_directly({"outputs/notes.md": b"first notes\n"})
    queued = tool_calls(web[0].url, pod.raw_key, [promote(f"change {n}", text(f"outputs/{n}.txt")) for n in range(3)])
    ids = [result.structured_content["id"] for result in queued]

    promotion, page, last_page, file = tool_calls(
        web[1].url,
        pod.raw_key,
        [
            ("get_promotion", {"id": ids[1]}),
            ("list_promotions", {"limit": 2}),
            ("list_promotions", {"limit": 2, "offset": 2}),
            ("get_file", {"path": "outputs/notes.md"}),
        ],
    )
    assert promotion.structured_content["commit_message"] == "change 1"
    assert [r["path"] for r in promotion.structured_content["results"]] == ["outputs/1.txt"]
    assert page.structured_content["count"] == 3 and page.structured_content["next_offset"] == 2
    assert [p["id"] for p in page.structured_content["results"]] == [ids[2], ids[1]]
    assert [p["id"] for p in last_page.structured_content["results"]] == [ids[0]]
    assert last_page.structured_content["next_offset"] is None
    assert file.structured_content["content"] == "first notes\n"
    assert file.structured_content["sha"] == target.sha_of("outputs/notes.md")


@pytest.mark.parametrize("mode", MODES)
def test_refusals_are_tool_errors_naming_the_field_and_store_nothing(web, pod, mode):
    other = PodFactory(name="someone-else", repositories=list(pod.repositories.all()))
    [theirs] = tool_calls(web[0].url, other.raw_key, [promote("theirs", text("outputs/theirs.txt"))])
    promotions_before = Promotion.objects.count()

    dotdot, outside, too_large, base64_broken, unknown, not_mine, unreadable, bad_limit = tool_calls(
        web[0].url,
        pod.raw_key,
        [
            promote("escape", text("../x")),
            promote("outside", text("outputs/ok.md"), text("secrets/key.txt")),
            promote("big", text("outputs/big.txt", "x" * (FILE_LIMIT + 1))),
            promote("binary", text("outputs/a.bin", "*", encoding="base64")),
            promote("typo", text("outputs/a.md"), file=[]),
            ("get_promotion", {"id": theirs.structured_content["id"]}),
            ("get_file", {"path": "secrets/key.txt"}),
            ("list_promotions", {"limit": "ten"}),
        ],
        mode=mode,
    )

    assert "files[0].path" in refusal(dotdot)["errors"] and "'..'" in refusal(dotdot)["detail"]
    assert list(refusal(outside)["errors"]) == ["files[1].path"] and "scope" in refusal(outside)["detail"]
    assert list(refusal(too_large)["errors"]) == ["files[0].content"] and "Too large" in refusal(too_large)["detail"]
    assert "files[0].content" in refusal(base64_broken)["errors"]
    assert list(refusal(unknown)["errors"]) == ["file"]
    assert list(refusal(not_mine)["errors"]) == ["id"]
    assert list(refusal(unreadable)["errors"]) == ["path"]
    assert list(refusal(bad_limit)["errors"]) == ["limit"]
    assert Promotion.objects.count() == promotions_before
    assert not FileChange.objects.exclude(path="outputs/theirs.txt").exists()


def test_a_body_over_the_limit_answers_413_and_stores_nothing(web, pod):
    files = [text(f"outputs/{n}.txt", "x" * (FILE_LIMIT - 1)) for n in range(BODY_LIMIT // FILE_LIMIT + 1)]

    async def promoting():
        async with connected(web[0].url, pod.raw_key) as client:
            await client.call_tool(*promote("huge", *files))

    with pytest.RaisesGroup(pytest.RaisesExc(MCPError, match="too large"), flatten_subgroups=True):
        anyio.run(promoting)
    assert not Promotion.objects.exists()


def test_a_promotion_awaiting_approval_answers_at_once_despite_wait(web, pod):
    pod.require_approval = True
    pod.save()
    started = time.monotonic()
    [result] = tool_calls(web[0].url, pod.raw_key, [("promote_files", {**SEED_BATCH.value, "wait": 25})])
    assert result.structured_content["status"] == "awaiting_approval"
    assert time.monotonic() - started < 15
    assert Promotion.objects.get().status == Promotion.Status.AWAITING_APPROVAL


def test_no_key_or_a_wrong_key_answers_401_with_a_bearer_challenge(web, pod):
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
    }
    headers = {"Accept": "application/json, text/event-stream"}
    missing = httpx2.post(f"{web[0].url}/mcp", json=initialize, headers=headers)
    wrong = httpx2.post(f"{web[0].url}/mcp", json=initialize, headers={**headers, "Authorization": "Bearer pgk_nope"})
    rest = httpx2.get(f"{web[0].url}/api/v1/promotions")
    assert missing.status_code == wrong.status_code == rest.status_code == 401
    assert missing.headers["WWW-Authenticate"] == rest.headers["WWW-Authenticate"] == 'Bearer realm="patchgate"'
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="patchgate", error="invalid_token"'
    assert wrong.json()["error"]["message"] == "Invalid API key."

    async def connecting():
        async with connected(web[0].url, None):
            pass

    # The SDK's client shows the body's JSON-RPC error to its user.
    with pytest.RaisesGroup(pytest.RaisesExc(MCPError, match="Authorization: Bearer"), flatten_subgroups=True):
        anyio.run(connecting)


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
def test_handshake_versions_from_2025_06_18_on_are_answered_in_kind(web, pod, version):
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {pod.raw_key}"}
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
    }
    answer = httpx2.post(f"{web[0].url}/mcp", json=initialize, headers=headers)
    assert answer.status_code == 200 and answer.json()["result"]["protocolVersion"] == version
    listing = httpx2.post(
        f"{web[1].url}/mcp",
        json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        headers={**headers, "MCP-Protocol-Version": version},
    )
    assert {tool["name"] for tool in listing.json()["result"]["tools"]} == TOOLS
    unknown = httpx2.post(
        f"{web[0].url}/mcp",
        json={"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "push_files", "arguments": {}}},
        headers={**headers, "MCP-Protocol-Version": version},
    )
    assert unknown.json()["error"]["code"] == -32602 and "promote_files" in unknown.json()["error"]["message"]
    stream = httpx2.get(f"{web[0].url}/mcp", headers=headers)
    assert stream.status_code == 405  # stateless: no server-initiated stream to hold open


class Alternating(httpx2.AsyncBaseTransport):
    """Sends each request to the next web process in turn, as a round-robin balancer would."""

    def __init__(self, ports: list[int]):
        self.ports = itertools.cycle(ports)
        self.sent_to: list[int] = []
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request):
        port = next(self.ports)
        self.sent_to.append(port)
        request.url = request.url.copy_with(port=port)
        return await self.inner.handle_async_request(request)

    async def aclose(self):
        await self.inner.aclose()


@pytest.mark.parametrize("mode", MODES)
def test_two_web_processes_answer_one_client_alternately(web, pod, sandbox, mode):
    Target(sandbox).commit_directly({"outputs/shared.md": b"shared\n"})
    balancer = Alternating([server.port for server in web])
    served_before = [server.requests_served("POST /mcp") for server in web]

    async def session():
        async with connected(web[0].url, pod.raw_key, mode, transport=balancer) as client:
            tools = (await client.list_tools()).tools
            reads = [await client.call_tool("get_file", {"path": "outputs/shared.md"}) for _ in range(3)]
            listed = await client.call_tool("list_promotions", {})
            return tools, reads, listed

    tools, reads, listed = anyio.run(session)
    assert {tool.name for tool in tools} == TOOLS
    assert [read.structured_content["content"] for read in reads] == ["shared\n"] * 3
    assert not listed.is_error
    assert set(balancer.sent_to) == {server.port for server in web}
    served = [server.requests_served("POST /mcp") - before for server, before in zip(web, served_before, strict=True)]
    assert min(served) >= 2 and abs(served[0] - served[1]) <= 1


def test_tool_calls_count_against_the_pods_rate_as_rest_calls_do(web, sandbox):
    pod = PodFactory(name="slow-pod", repositories=[sandbox], throttle_rate="3/min")
    rest = httpx2.get(f"{web[0].url}/api/v1/promotions", headers={"Authorization": f"Bearer {pod.raw_key}"})
    assert rest.status_code == 200
    second, third, fourth = tool_calls(web[1].url, pod.raw_key, [("list_promotions", {})] * 3)
    assert not second.is_error and not third.is_error
    assert "throttled" in refusal(fourth)["detail"]
