"""What every handler shares: the seed's error shape and ASCII JSON answers."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse as _StarletteJSON


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class JSONResponse(_StarletteJSON):
    """JSON answers in ASCII: an error message may quote input holding a lone surrogate,
    which UTF-8 cannot encode (Starlette's own renderer would raise, i.e. answer 500)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def bad_request(message: str) -> ApiError:
    # The seed's Bad Request body, typo included: {"Error": "%s(error Aplication)"}.
    return ApiError(400, f"{message}(error Aplication)")


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"Error": message}, status_code=status, headers=headers)
