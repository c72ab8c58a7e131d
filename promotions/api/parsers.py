"""JSON bodies within settings.DATA_UPLOAD_MAX_MEMORY_SIZE."""

import io

from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """DRF streams the body past Django's size check; reading `request.body` applies
    it (RequestDataTooBig, answered 413 by the exception handler) before parsing."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = parser_context["request"]._request.body
        return super().parse(io.BytesIO(body), media_type, parser_context)
