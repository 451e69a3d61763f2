"""The composition root: builds every adapter once per process from Settings.

Triggers and activities ask for `services()`; tests build a `Services` of fakes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.config import Settings
from shared.jobs import utc_now
from shared.pipeline.answer_cache import AnswerCache, ForgettingJobStore
from shared.ports import BlobStore, ChunkStore, EventPublisher, JobStore, RenderBackend


@dataclass
class Services:
    settings: Settings
    blobs: BlobStore
    jobs: JobStore
    chunks: ChunkStore  # the chunk pages of the jobs (shared/job_chunks.py)
    backend: RenderBackend
    events: EventPublisher
    now: Callable[[], str] = field(default=utc_now)
    # Recent answers of the polled read routes (API_CACHE_SECONDS); None: every read goes to the store.
    answers: AnswerCache | None = None


def build_services(settings: Settings) -> Services:
    from shared.adapters.blob_store import AzureBlobStore
    from shared.adapters.cosmos_chunk_store import CosmosChunkStore
    from shared.adapters.cosmos_job_store import CosmosJobStore
    from shared.adapters.eventgrid_publisher import EventGridPublisher, NullEventPublisher

    backend: RenderBackend
    if settings.render_backend == "local":
        from shared.adapters.local_batch_backend import LocalBatchBackend

        backend = LocalBatchBackend(settings.localbatch_url, key=settings.localbatch_key)
    else:
        from azure.identity import DefaultAzureCredential

        from shared.adapters.azure_batch_backend import AzureBatchBackend

        # Nodes read scenes and write renders as the pool's managed identity.
        backend = AzureBatchBackend(settings.batch_account_url, settings.batch_pool_id, DefaultAzureCredential(),
                                    storage_blob_url=settings.storage_account_url,
                                    identity_resource_id=settings.batch_node_identity_id or None)
    events: EventPublisher = (EventGridPublisher.from_settings(settings) if settings.publishes_events
                              else NullEventPublisher())
    jobs: JobStore = CosmosJobStore.from_settings(settings)
    answers = AnswerCache(settings.api_cache_seconds) if settings.api_cache_seconds > 0 else None
    if answers is not None:
        jobs = ForgettingJobStore(jobs, answers)  # this process's writes drop the cached answers
    return Services(
        settings=settings,
        blobs=AzureBlobStore.from_settings(settings),
        jobs=jobs,
        chunks=CosmosChunkStore.from_settings(settings),
        backend=backend,
        events=events,
        answers=answers,
    )


@functools.cache
def services() -> Services:
    return build_services(Settings.from_env())
