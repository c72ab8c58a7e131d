"""Serve the emulator until Ctrl-C or SIGTERM:

python -m github_emulator --host 127.0.0.1 --port 8765 [--repo acme/widgets ...] [--latency-ms 75]
    [--app-key 4242=app.pub.pem --installation 77=4242:acme ...] [--write-limit 80/60,500/3600]
    [--truncate-entries 100000]
"""

import argparse
import signal
import sys
from pathlib import Path

from .limits import TRUNCATE_ENTRIES, parse_write_limits
from .server import GitHubEmulator
from .store import Refused


def stop_on_signal(signum, frame) -> None:
    """SIGTERM ends the server as Ctrl-C does."""
    raise KeyboardInterrupt


def repository_name(value: str) -> str:
    owner, _, name = value.partition("/")
    if not owner or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"{value!r} is not OWNER/NAME")
    return value


def app_key(value: str) -> tuple[int, str]:
    """ID=PUBLIC_KEY_PEM_PATH -> (app id, the PEM text)."""
    app_id, _, path = value.partition("=")
    if not app_id.isdigit() or not path:
        raise argparse.ArgumentTypeError(f"{value!r} is not ID=PUBLIC_KEY_PEM_PATH")
    try:
        return int(app_id), Path(path).read_text(encoding="ascii")
    except (OSError, ValueError) as error:
        raise argparse.ArgumentTypeError(f"cannot read the public key {path!r}: {error}") from None


def installation(value: str) -> tuple[int, int, str]:
    """INSTALLATION_ID=APP_ID:OWNER -> (installation id, app id, owner)."""
    installation_id, _, rest = value.partition("=")
    app_id, _, owner = rest.partition(":")
    if not installation_id.isdigit() or not app_id.isdigit() or not owner or "/" in owner:
        raise argparse.ArgumentTypeError(f"{value!r} is not INSTALLATION_ID=APP_ID:OWNER")
    return int(installation_id), int(app_id), owner


def write_limits(value: str) -> str:
    try:
        parse_write_limits(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m github_emulator", description="GitHub REST API emulator")
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
    parser.add_argument(
        "--app-key",
        action="append",
        default=[],
        metavar="ID=PUBLIC_KEY_PEM_PATH",
        type=app_key,
        help="register a GitHub App whose JWTs are signed by the private half of this key; repeatable",
    )
    parser.add_argument(
        "--installation",
        action="append",
        default=[],
        metavar="INSTALLATION_ID=APP_ID:OWNER",
        type=installation,
        help="install a registered App on OWNER's account (its tokens reach only OWNER's repositories); repeatable",
    )
    parser.add_argument(
        "--write-limit",
        default="",
        metavar="N/SECONDS[,N/SECONDS]",
        type=write_limits,
        help="per credential, answer writes past N in any SECONDS as GitHub's secondary rate limit (403, retry-after)",
    )
    parser.add_argument(
        "--truncate-entries",
        type=int,
        default=TRUNCATE_ENTRIES,
        metavar="N",
        help="cut recursive trees past N entries (or 7 MB) with truncated: true, as GitHub does",
    )
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, stop_on_signal)
    emulator = GitHubEmulator(
        latency_ms=args.latency_ms,
        host=args.host,
        port=args.port,
        write_limits=args.write_limit,
        truncate_entries=args.truncate_entries,
    )
    for app_id, public_key in args.app_key:
        emulator.register_app(app_id, public_key)
    for installation_id, app_id, owner in args.installation:
        try:
            emulator.install_app(installation_id, app_id, owner)
        except ValueError as error:
            parser.error(f"--installation {installation_id}={app_id}:{owner}: {error} (give --app-key {app_id}=...)")
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
