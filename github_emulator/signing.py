"""Commits GitHub signs, and the `verification` object the REST API reports for every
commit (https://docs.github.com/rest/commits/commits#signature-verification-object).

GitHub signs the commits it makes itself ("web-flow": `createCommitOnBranch`, and Git
Data or contents commits of a GitHub App installation that name no author or
committer) and marks them verified. The emulator signs them as git does with an SSH
key (`gpg.format=ssh`): a `gpgsig` header holding an SSHSIG signature of the commit
without that header (https://github.com/openssh/openssh-portable/blob/master/PROTOCOL.sshsig),
so the commit's sha is git's for the signed object and `ssh-keygen -Y verify` (or
`git verify-commit` with an allowed-signers file) accepts it with PUBLIC_KEY. GitHub
itself signs with a PGP key, whose private half no emulator has.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from dulwich.objects import Commit

# Not a secret: the emulator's own signing key, fixed so that its signed commits (and
# their shas) are the same on every run for the same content and dates.
_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"github-emulator web-flow signing key").digest())
PUBLIC_KEY = _KEY.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
NAMESPACE = b"git"
WEB_FLOW = ("GitHub", "noreply@github.com")  # the committer of every commit GitHub signs
UNSIGNED = {"verified": False, "reason": "unsigned", "signature": None, "payload": None, "verified_at": None}


def _string(data: bytes) -> bytes:
    """SSH's wire encoding of a string: its length as a big-endian uint32, then it."""
    return struct.pack(">I", len(data)) + data


def ssh_signature(payload: bytes) -> bytes:
    """The armored SSHSIG of `payload` in the git namespace, as `ssh-keygen -Y sign` writes it."""
    digest = hashlib.sha512(payload).digest()
    signed = b"SSHSIG" + _string(NAMESPACE) + _string(b"") + _string(b"sha512") + _string(digest)
    public_blob = base64.b64decode(PUBLIC_KEY.split()[1])
    signature = _string(b"ssh-ed25519") + _string(_KEY.sign(signed))
    blob = (
        b"SSHSIG"
        + struct.pack(">I", 1)
        + _string(public_blob)
        + _string(NAMESPACE)
        + _string(b"")
        + _string(b"sha512")
        + _string(signature)
    )
    encoded = base64.b64encode(blob)
    lines = [encoded[i : i + 70] for i in range(0, len(encoded), 70)]
    return b"\n".join([b"-----BEGIN SSH SIGNATURE-----", *lines, b"-----END SSH SIGNATURE-----"]) + b"\n"


def sign(commit: Commit) -> None:
    """Add the `gpgsig` header to a commit not yet stored: its id becomes the signed
    object's. Without the signature's last newline, as git writes the header."""
    commit.gpgsig = ssh_signature(commit.as_raw_string()).rstrip(b"\n")


def verification(commit: Commit) -> dict:
    """GitHub's verification object: verified for a commit the emulator signed, unsigned
    for any other (the emulator knows no one else's keys)."""
    if not commit.gpgsig:
        return dict(UNSIGNED)
    payload = commit.raw_without_sig()
    verified = commit.gpgsig == ssh_signature(payload).rstrip(b"\n")
    when = datetime.fromtimestamp(commit.commit_time, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "verified": verified,
        "reason": "valid" if verified else "invalid",
        "signature": commit.gpgsig.decode() + "\n",  # as git reads the header back
        "payload": payload.decode(),
        "verified_at": when if verified else None,
    }


def is_verified(commit: Commit) -> bool:
    return bool(commit.gpgsig) and verification(commit)["verified"]
