"""The HTTP API.

Path ids are routed with the ``uuid`` convertor, so ``/campaigns/underperforming`` can never be taken
for a campaign id (a method a path does not support is 405, not a 422 about a malformed id). It is
registered here, before any router compiles its paths, and accepts UUIDs in either case.
"""

from __future__ import annotations

import uuid

from starlette.convertors import Convertor, register_url_convertor


class _UUIDConvertor(Convertor[uuid.UUID]):
    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def convert(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_string(self, value: uuid.UUID) -> str:
        return str(value)


register_url_convertor("uuid", _UUIDConvertor())
