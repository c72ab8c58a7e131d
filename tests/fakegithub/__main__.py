"""Serve the emulator until Ctrl-C or SIGTERM:

python -m tests.fakegithub --host 127.0.0.1 --port 8765 [--repo acme/widgets ...] [--latency-ms 75]
"""

import argparse
import signal
import sys

from . import FakeGitHub
from .store import Refused


def stop_on_signal(signum, frame) -> None:
    """SIGTERM ends the server as Ctrl-C does."""
    raise KeyboardInterrupt


def repository_name(value: str) -> str:
    owner, _, name = value.partition("/")
    if not owner or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"{value!r} is not OWNER/NAME")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakegithub", description="GitHub REST API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0, help="sleep before answering each API request")
    parser.add_argument(
        "--repo",
        action="append",
        default=[],
        metavar="OWNER/NAME",
        type=repository_name,
        help="create this repository (branch main, one initial commit) before serving; repeatable",
    )
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, stop_on_signal)
    emulator = FakeGitHub(latency_ms=args.latency_ms, host=args.host, port=args.port)
    for full_name in args.repo:
        try:
            emulator.create_repository(full_name)
        except Refused as refusal:
            reasons = "; ".join(error.get("message", "") for error in refusal.errors or []) or refusal.message
            parser.error(f"--repo {full_name}: {reasons}")
    try:
        emulator.serve_until_interrupted(on_ready=lambda: print(emulator.url, flush=True))
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
