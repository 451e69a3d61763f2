"""ChunkStore on azure-cosmos: a job's chunk pages in their own container, partitioned by
/jobId, so all of one job's pages are one logical partition (read together by one
single-partition query) and a page replace is If-Match its etag, like a job document's.
"""

from __future__ import annotations

from typing import Any

from azure.core import MatchConditions
from azure.cosmos import ContainerProxy, CosmosClient

from shared.adapters.cosmos_job_store import _body, _mapped, container_of
from shared.chunk_pages import page_id
from shared.ports import ChunkPage


class CosmosChunkStore:
    def __init__(self, container: ContainerProxy) -> None:
        self._container = container

    @classmethod
    def from_settings(cls, settings: Any, client: CosmosClient | None = None,
                      **client_options: Any) -> CosmosChunkStore:
        return cls(container_of(settings, settings.cosmos_chunks_container, client, **client_options))

    def create_page(self, page: ChunkPage) -> ChunkPage:
        with _mapped(f"create chunk page {page.get('id')}"):
            return dict(self._container.create_item(_body(page)))

    def get_page(self, job_id: str, number: int) -> ChunkPage:
        with _mapped(f"chunk page {number} of job {job_id}"):
            return dict(self._container.read_item(page_id(job_id, number), partition_key=job_id))

    def replace_page(self, page: ChunkPage, *, etag: str) -> ChunkPage:
        with _mapped(f"replace chunk page {page['id']}"):
            return dict(self._container.replace_item(page["id"], _body(page), etag=etag,
                                                     match_condition=MatchConditions.IfNotModified))

    def list_pages(self, job_id: str) -> list[ChunkPage]:
        with _mapped(f"chunk pages of job {job_id}"):
            items = self._container.query_items("SELECT * FROM c WHERE c.jobId = @jobId",
                                                parameters=[{"name": "@jobId", "value": job_id}],
                                                partition_key=job_id)
            pages = [dict(item) for item in items]
        return sorted(pages, key=lambda p: int(p["page"]))

    def ping(self) -> None:
        with _mapped("ping Cosmos DB (chunks)"):
            self._container.read()
