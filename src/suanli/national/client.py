"""The HTTP side of the puller: one control plane's national API, read with a national-role API key."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import aiohttp

from suanli.national.sync import SourceError

TIMEOUT_S = 60.0


class HttpSource:
    """A control plane at `base_url`, authenticated with a bearer API key of role national."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, key: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/") + "/"
        self.headers = {"Authorization": f"Bearer {key}"}

    async def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        url = urljoin(self.base_url, path)
        try:
            async with self.session.get(
                url, params=params, headers=self.headers, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
            ) as response:
                if response.status != 200:
                    body = (await response.text())[:300]
                    raise SourceError(f"GET {url}: HTTP {response.status}: {body}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SourceError(f"GET {url}: {exc.__class__.__name__}: {exc}") from exc

    async def jwks(self) -> dict[str, Any]:
        return await self._get(".well-known/jwks.json")

    async def summary(self) -> dict[str, Any]:
        return await self._get("national/v1/summary")

    async def certificates(self, cursor: str, limit: int) -> dict[str, Any]:
        params = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        return await self._get("national/v1/certificates", params)
