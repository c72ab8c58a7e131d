"""A pod's API key: a long random string shown once; only its SHA-256 is kept.
Keys are long random strings, so a fast hash is enough and lets a request find its
key with one indexed lookup."""

import hashlib
import secrets

KEY_PREFIX = "pgk_"


def new_raw_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()
