"""JSON bodies within settings.DATA_UPLOAD_MAX_MEMORY_SIZE, nested at most MAX_JSON_DEPTH deep."""

import re
from itertools import accumulate

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import renderers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.settings import api_settings
from rest_framework.utils import json

# A promotion nests 3 deep, plus its metadata; Python's parser and encoder recurse,
# so a body nested thousands deep would otherwise end in a RecursionError (a 500).
MAX_JSON_DEPTH = 64
# A JSON string, written so that a long one matches in one pass of its character class.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text: str) -> int:
    """How deep the arrays and objects of `text` nest, counted without parsing it
    (so without recursion); brackets inside strings do not count."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


class BoundedJSONParser(BaseParser):
    """JSON, as DRF's JSONParser parses it (strict: no NaN or Infinity), read so that
    a large promotion is held at most twice at any time while parsing: DRF reads a
    JSONParser's whole body into the request (kept there to the end) before the
    parser sees it, so this parser is not one; it reads the stream in chunks into one
    buffer, and lets each form of the body go as soon as the next exists (bytes,
    text, parsed). Django's size check is applied here (RequestDataTooBig, answered
    413 by the exception handler) before anything is read. A body nested deeper than
    MAX_JSON_DEPTH is refused (400) before it is parsed."""

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer
    strict = api_settings.STRICT_JSON

    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]._request
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and int(request.META.get("CONTENT_LENGTH") or 0) > limit:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
            text = _text(_read(stream, length), parser_context.get("encoding", settings.DEFAULT_CHARSET))
        except (UnicodeDecodeError, LookupError) as error:
            raise ParseError(f"JSON parse error - {error}") from None
        # Counting brackets is enough for most bodies; only many of them need a closer look.
        if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
            raise ParseError(f"JSON parse error - arrays and objects nested more than {MAX_JSON_DEPTH} deep.")
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None


def _read(stream, length: int) -> bytearray:
    """The body, read in chunks into one buffer of its announced length: a server's
    read() of it all at once may hold it twice over while it gathers it (gunicorn's does)."""
    body = bytearray(length)
    view, filled = memoryview(body), 0
    while filled < length:
        chunk = stream.read(min(READ_CHUNK, length - filled))
        if not chunk:
            break
        view[filled : filled + len(chunk)] = chunk
        filled += len(chunk)
    view.release()
    del body[filled:]
    return body


READ_CHUNK = 1024 * 1024


def _text(body: bytearray, encoding: str) -> str:
    # A function of its own, so that the bytes are freed when it returns.
    return body.decode(encoding)
