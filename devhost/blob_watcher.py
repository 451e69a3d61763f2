"""Turns newly committed blobs in Azurite into BlobCreated events, like a storage
account's Event Grid system topic: the poller lists the watched containers and
records each new eTag with its queued deliveries; the dispatcher delivers them at
least once, retrying with exponential backoff, then dead-letters them.

With a request log (devhost/request_log.py), new blobs are found from Azurite's log of
writes within ~50 ms, whatever the container holds, and the full listing becomes the
background safety net that runs every full_listing_interval seconds.

Above 350 lines because finding versions (listing, feed) and delivering them share one
outbox and one wake-up, and read best side by side."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob.aio import BlobServiceClient, ContainerClient, LinearRetry

from devhost.blob_events import BlobVersion, blob_created_event, storage_topic
from devhost.blob_state import Delivery, WatcherState
from devhost.private_files import private_dir, write_private
from devhost.request_log import LogPosition, committed_write, end_of, read_new_lines, write_api
from devhost.subscriptions import Subscription

log = logging.getLogger("devhost")

Deliver = Callable[[str, dict[str, Any]], Awaitable[None]]

# The storage SDK's default policy waits ~15 s before its first retry, so after Azurite
# restarts the watcher would stay blind that long. Two retries half a second apart ride
# out a stale pooled connection; anything longer is the next poll's job.
RETRY_BACKOFF_SECONDS = 0.5
RETRY_TOTAL = 2
CONNECT_TIMEOUT_SECONDS = 2
BACKGROUND_PAGE = 100  # blobs per listing page when the listing is only the safety net


def storage_client(connection_string: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(
        connection_string,
        retry_policy=LinearRetry(backoff=RETRY_BACKOFF_SECONDS, retry_total=RETRY_TOTAL,  # type: ignore[arg-type]
                                 random_jitter_range=0.2),  # type: ignore[arg-type]
        connection_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=60)


@dataclass(frozen=True)
class WatcherOptions:
    connection_string: str
    poll_interval: float = 0.5
    max_attempts: int = 30
    retry_base: float = 10.0
    retry_max: float = 600.0
    deliver_existing: bool = False
    azure_subscription_id: str = "00000000-0000-0000-0000-000000000000"
    resource_group: str = "devhost"
    max_concurrent_deliveries: int = 8
    # Azurite's access log (its stdout without --silent); None: find new blobs by listing only.
    request_log: Path | None = None
    feed_interval: float = 0.05
    # With a request log, the full listing is only the safety net, and it costs Azurite
    # ~1-2 ms per blob: a minute after the last one ended, paced page by page.
    full_listing_interval: float = 60.0


def plain_etag(etag: str) -> str:
    """Listings give 0x8D…, blob properties "0x8D…": the watcher keeps the bare form."""
    return etag.strip('"')


def listing_scopes(subscriptions: list[Subscription]) -> dict[str, list[str]]:
    """container → blob-name prefixes to list; [""] means the whole container."""
    scopes: dict[str, set[str]] = {}
    for sub in subscriptions:
        for container in sub.containers:
            scopes.setdefault(container, set()).add(sub.listing_prefix(container))
    result: dict[str, list[str]] = {}
    for container, prefixes in scopes.items():
        ordered = sorted(prefixes)
        # Drop prefixes covered by a shorter one (and everything when "" is present).
        kept = [p for p in ordered if not any(p != q and p.startswith(q) for q in ordered)]
        result[container] = kept
    return result


class BlobWatcher:
    def __init__(self, subscriptions: list[Subscription], options: WatcherOptions, state: WatcherState,
                 deliver: Deliver, deadletter_dir: Path) -> None:
        self.subscriptions = subscriptions
        self.options = options
        self.state = state
        self.deliver = deliver
        self.deadletter_dir = deadletter_dir
        self.scopes = listing_scopes(subscriptions)
        self.known: dict[str, dict[str, str]] = {}
        self.inflight: dict[int, asyncio.Task[None]] = {}
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.service: BlobServiceClient | None = None
        self.topic = ""
        self.failing_since: float | None = None
        # One blob version is considered by one coroutine at a time (feed and listing overlap).
        self.considering = asyncio.Lock()
        self.feed_position: LogPosition | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        # Few, quick retries: the next poll is the retry, and a down Azurite must not stall start-up.
        self.service = storage_client(self.options.connection_string)
        self.topic = storage_topic(self.options.azure_subscription_id, self.options.resource_group,
                                   self.service.account_name or "devstoreaccount1")
        self.known = {c: self.state.known_etags(c) for c in self.scopes}
        self.state.prune(older_than=time.time() - 7 * 86400)
        log_path = self.options.request_log
        if log_path is not None:
            if end_of(log_path) is None:
                log.warning("Blob watcher: the request log %s does not exist (yet); until Azurite writes it, "
                            "new blobs are found by the full listing every %.0fs", log_path,
                            self.options.full_listing_interval)
            saved = (self.state.get_meta("request_log_inode"), self.state.get_meta("request_log_offset"))
            # Resume where the last run stopped (writes made while devhost was down are in the
            # log); on the first start, from the end as it is before the baseline listing.
            self.feed_position = (LogPosition(saved[0], saved[1]) if saved[0] is not None and saved[1] is not None
                                  else end_of(log_path))
        # One pass before "ready": on a first start the baseline is then exactly what
        # existed before devhost said it was ready. With a feed and every container
        # baselined, the feed resumes from its stored position and finds what changed
        # meanwhile; the safety-net listing keeps its usual interval.
        if log_path is None or not all(self.state.is_baselined(c) for c in self.scopes):
            await self._poll_once()
        self.tasks = [asyncio.create_task(self._poll_loop(), name="blob-poller"),
                      asyncio.create_task(self._dispatch_loop(), name="eventgrid-dispatcher")]
        if log_path is not None:
            self.tasks.append(asyncio.create_task(self._feed_loop(log_path), name="blob-change-feed"))

    async def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        # Deliveries cut short stay pending in the outbox and run again after a restart.
        pending = [*self.tasks, *self.inflight.values()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self.service is not None:
            await self.service.close()

    def cadence(self) -> str:
        """How the watcher finds new blobs, for the start-up banner."""
        if self.options.request_log is None:
            return f"every {self.options.poll_interval}s"
        return (f"from the request log {self.options.request_log} every {self.options.feed_interval}s, "
                f"full listing every {self.options.full_listing_interval:.0f}s")

    # --- polling -----------------------------------------------------------------------------
    def _pause_after(self, last_pass: float) -> float:
        if self.options.request_log is not None:
            # Its pages already pause twice as long as each took (Azurite at most a third busy).
            return self.options.full_listing_interval
        # Azurite spends ~1 ms per listed blob; waiting at least as long as the last pass
        # took keeps a big container from pinning Azurite at a full core.
        return max(self.options.poll_interval, last_pass)

    async def _poll_loop(self) -> None:
        assert self.service is not None
        last_pass = 0.0
        warned = self.options.request_log is not None  # then a slow pass delays no event
        pause = self._pause_after(0.0)
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), pause)
            started = time.monotonic()
            listed = await self._poll_once()
            # A pass that failed (storage down) says nothing about listing cost: poll again soon.
            last_pass = time.monotonic() - started if listed else 0.0
            pause = self._pause_after(last_pass) if listed else self.options.poll_interval
            if last_pass > 1.0 and not warned:
                warned = True
                log.warning("Blob watcher: one listing pass took %.1fs (%d blobs known); events may arrive "
                            "that much later. Narrow the subscriptions (case-sensitive subjectBeginsWith) "
                            "to list less.", last_pass, sum(len(k) for k in self.known.values()))

    async def _poll_once(self) -> bool:
        """One listing pass over the watched containers; False if storage could not be listed."""
        assert self.service is not None
        listed = True
        for container, prefixes in self.scopes.items():
            if self.stopping.is_set():
                return listed
            try:
                await self.scan(self.service.get_container_client(container), prefixes)
                if self.failing_since is not None:
                    log.info("Blob watcher: storage reachable again")
                    self.failing_since = None
            except (AzureError, OSError) as exc:
                listed = False
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                    log.warning("Blob watcher: cannot list container %s: %s", container, exc)
            except Exception:
                # Whatever it was, the next pass tries again; the poller must not die.
                listed = False
                log.exception("Blob watcher: scanning container %s failed", container)
        return listed

    async def _list(self, client: ContainerClient, prefixes: list[str]) -> dict[str, Any]:
        listing: dict[str, Any] = {}
        # Beside a feed the listing is background work: Azurite answers a page in one go
        # (its XML is built synchronously), so small pages with a pause twice as long as each
        # took keep a marker's HEAD from queueing behind seconds of listing.
        background = self.options.request_log is not None
        for prefix in prefixes:
            try:
                pages = client.list_blobs(name_starts_with=prefix or None,
                                          results_per_page=BACKGROUND_PAGE if background else None).by_page()
                while True:
                    asked = time.monotonic()
                    try:
                        page = await pages.__anext__()
                    except StopAsyncIteration:
                        break
                    async for blob in page:
                        listing[blob.name] = blob
                    if background:
                        await asyncio.sleep(min(2 * (time.monotonic() - asked), 2.0))
            except ResourceNotFoundError:
                return {}  # the container does not exist (yet)
        return listing

    async def scan(self, client: ContainerClient, prefixes: list[str]) -> None:
        container = client.container_name
        known = self.known.setdefault(container, {})
        before = dict(known)
        listing = await self._list(client, prefixes)
        if not self.state.is_baselined(container):
            # The first listing is the baseline: blobs that were there before devhost first
            # watched the container are not events (unless deliver_existing is set).
            baseline = {} if self.options.deliver_existing else {n: plain_etag(b.etag) for n, b in listing.items()}
            self.state.baseline(container, baseline)
            known.update(baseline)
            if baseline:
                log.info("Blob watcher: %d existing blob(s) in %s are the baseline, not events",
                         len(baseline), container)
        for blob in listing.values():
            await self.consider(client, blob)
        # Gone: known before the listing began and unchanged since (the feed may have added
        # a blob the listing, begun earlier, could not show; forgetting it would repeat it).
        gone = [n for n, etag in before.items() if n not in listing and known.get(n) == etag
                and any(n.startswith(p) for p in prefixes)]
        if gone:
            self.state.forget(container, gone)
            for name in gone:
                del known[name]

    async def _api_of(self, client: ContainerClient, blob: Any, hint: str | None) -> str:
        """The storage operation that committed this version, as far as a listing tells."""
        if blob.copy and blob.copy.id and blob.copy.status == "success":
            return "CopyBlob"
        if hint is not None:
            return hint
        if blob.blob_type != "BlockBlob":
            return "PutBlob"
        committed, _ = await client.get_blob_client(blob.name).get_block_list("committed")
        return "PutBlockList" if committed else "PutBlob"

    async def consider(self, client: ContainerClient, blob: Any, api: str | None = None) -> None:
        """A blob as a listing (or a properties read) shows it: an event if its eTag is new.
        api: the operation, when the request log said which (saves a block-list request)."""
        known = self.known.setdefault(client.container_name, {})
        async with self.considering:
            if known.get(blob.name) != plain_etag(blob.etag):
                await self._new_version(client, blob, first=blob.name not in known, api=api)

    async def _new_version(self, client: ContainerClient, blob: Any, first: bool, api: str | None) -> None:
        container, known = client.container_name, self.known[client.container_name]
        etag = plain_etag(blob.etag)
        copy_status = blob.copy.status if blob.copy and blob.copy.id else None
        if copy_status == "pending":
            return  # a copy is BlobCreated once it completes: look again on the next pass
        if (blob.blob_type != "BlockBlob" and not first) or copy_status in ("failed", "aborted"):
            # Appends and page writes change the eTag, and a failed copy leaves an empty blob:
            # neither is BlobCreated in Event Grid. Remember the eTag without an event.
            self.state.remember(container, blob.name, etag)
            known[blob.name] = etag
            return
        subject = f"/blobServices/default/containers/{container}/blobs/{blob.name}"
        if not any(s.matches_subject(subject) for s in self.subscriptions):
            # No subscription wants it (e.g. rendered frames next to chunk markers): skip the
            # extra request and the event, remember the eTag.
            self.state.remember(container, blob.name, etag)
            known[blob.name] = etag
            return
        try:
            api = await self._api_of(client, blob, api)
        except ResourceNotFoundError:
            return  # deleted since the listing
        version = BlobVersion(
            container=container, name=blob.name, etag=etag,
            content_type=blob.content_settings.content_type or "application/octet-stream",
            content_length=int(blob.size or 0), api=api,
            blob_type=str(getattr(blob.blob_type, "value", blob.blob_type)),
            url=client.get_blob_client(blob.name).url,
        )
        event = self.state.record_version(
            container, blob.name, etag,
            make_event=lambda sequencer: blob_created_event(version, self.topic, sequencer),
            targets=lambda ev: [(s.name, s.function_name) for s in self.subscriptions if s.matches(ev)],
        )
        known[blob.name] = etag
        if event is None:
            return  # already recorded (and queued) by an earlier look at this version
        log.info("Blob watcher: %s %s/%s (eTag %s)", api, container, blob.name, event["data"]["eTag"])
        self.wake.set()

    # --- change feed -------------------------------------------------------------------------
    async def _feed_loop(self, path: Path) -> None:
        while not self.stopping.is_set():
            try:
                await self._feed_once(path)
            except Exception:
                # The lines stay unread (their position is not stored): tried again next time.
                log.exception("Blob watcher: reading the request log %s failed", path)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.options.feed_interval)

    async def _feed_once(self, path: Path) -> None:
        assert self.service is not None
        lines, position = read_new_lines(path, self.feed_position)
        account = self.service.account_name or "devstoreaccount1"
        writes: dict[tuple[str, str], str | None] = {}  # in log order, each blob once, its last write's api
        for line in lines:
            write = committed_write(line, account)
            if write is None or not any(write[1].startswith(p) for p in self.scopes.get(write[0], ())):
                continue
            # A write no subscription's subject filters want (a rendered frame beside the
            # markers) is not worth a request: the full listing remembers its eTag later.
            subject = f"/blobServices/default/containers/{write[0]}/blobs/{write[1]}"
            if any(s.matches_subject(subject) for s in self.subscriptions):
                writes.pop(write, None)
                writes[write] = write_api(line)
        for (container, name), api in writes.items():
            client = self.service.get_container_client(container)
            try:
                blob = await client.get_blob_client(name).get_blob_properties()
            except ResourceNotFoundError:
                continue  # deleted since (or a write that created nothing)
            except HttpResponseError as exc:
                # Storage answered, but not with the blob: waiting would stall the feed for good
                # on this one line. The full listing finds it if it exists.
                log.warning("Blob watcher: cannot read %s/%s from the request log: %s", container, name, exc)
                continue
            except (AzureError, OSError) as exc:
                # Storage unreachable: keep the position, so these lines are read again.
                log.warning("Blob watcher: cannot read %s/%s from the request log: %s", container, name, exc)
                return
            await self.consider(client, blob, api)
        if position is not None and position != self.feed_position:
            self.feed_position = position
            self.state.set_meta({"request_log_inode": position.inode, "request_log_offset": position.offset})

    # --- delivery ----------------------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        while not self.stopping.is_set():
            self.wake.clear()
            try:
                free = self.options.max_concurrent_deliveries - len(self.inflight)
                if free > 0:
                    for delivery in self.state.due(time.time(), free, set(self.inflight)):
                        self.inflight[delivery.id] = asyncio.create_task(self._deliver(delivery))
                next_at = self.state.next_due_at(set(self.inflight))
                wait = 1.0 if next_at is None else min(max(next_at - time.time(), 0.05), 1.0)
            except Exception:
                log.exception("Event Grid dispatcher: reading the outbox failed")
                wait = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), wait)

    async def _deliver(self, delivery: Delivery) -> None:
        attempts = delivery.attempts + 1
        try:
            await self.deliver(delivery.function_name, delivery.event)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if attempts >= self.options.max_attempts:
                self._dead_letter(delivery, attempts, error)
                self.state.failed(delivery.id, attempts, error, retry_at=None)
            else:
                delay = min(self.options.retry_base * 2 ** (attempts - 1), self.options.retry_max)
                log.warning("Event %s to %s failed (attempt %d of %d), retrying in %.1fs: %s",
                            delivery.event.get("id"), delivery.function_name, attempts,
                            self.options.max_attempts, delay, error)
                self.state.failed(delivery.id, attempts, error, retry_at=time.time() + delay)
        else:
            self.state.delivered(delivery.id, attempts)
        finally:
            self.inflight.pop(delivery.id, None)
            self.wake.set()

    def _dead_letter(self, delivery: Delivery, attempts: int, error: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", delivery.subscription)[:100] or "subscription"
        folder = private_dir(self.deadletter_dir / safe)
        record = {**delivery.event, "deadLetterReason": "MaxDeliveryAttemptsExceeded",
                  "deliveryAttempts": attempts, "lastDeliveryOutcome": "Error",
                  "lastErrorMessage": error, "subscription": delivery.subscription,
                  "functionName": delivery.function_name}
        path = folder / f"{delivery.id:08d}.json"
        write_private(path, json.dumps(record, indent=2))
        log.error("Event %s dead-lettered after %d attempts to %s (%s): %s", delivery.event.get("id"),
                  attempts, delivery.function_name, path, error)
