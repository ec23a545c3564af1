"""Where background jobs run: procrastinate on PostgreSQL, threads in-process on SQLite.

PostgreSQL: jobs are rows in the catalog's own schema (migration 0004), run by any number of
`amps worker` processes (and servers with AMPS_RUN_JOBS on) on any machine. A failing job is
retried (MAX_ATTEMPTS runs in all); a worker that dies mid-job stops sending heartbeats, and
after AMPS_JOB_STALLED_AFTER seconds a live one puts its jobs back in the queue.

SQLite (one box): the same jobs run in threads of `amps serve`. The catalog is the durable
part: every start re-queues the clips still `processing`, so a restart loses nothing.
"""

import asyncio
import logging
import queue
import threading
import time
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from app.config import Settings
from app.jobs.processing import TASKS, Processor, TryAgain
from app.jobs.webhooks import Delivery
from app.metrics import JOBS_QUEUED, timed_job

log = logging.getLogger("amps")
MAX_ATTEMPTS = 3
STOP_POLL = 0.2  # seconds between looks at a stop request
WEBHOOK_TASK = "webhook"  # one delivery attempt (app.jobs.webhooks), retried by re-queueing
DEPTH_EVERY = 5.0  # seconds between counts of PostgreSQL's waiting jobs (the metric)


async def until_set(event: threading.Event, timeout: float | None = None) -> bool:
    """Wait on the loop for a threading.Event (set from any thread); True once it is set."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not event.is_set():
        if deadline is not None and time.monotonic() >= deadline:
            return False
        await asyncio.sleep(STOP_POLL)
    return True


def retry_delay(attempt: int) -> int:
    """Seconds before the run after attempt number `attempt` (0 for the first): 5, 30, 55."""
    return 5 + 25 * attempt


class JobQueue(Protocol):
    processor: Processor

    def defer(self, task: str, media_id: str) -> None:
        """Queue `task` (one of processing.TASKS) for a clip; blocking, never runs it here."""

    def defer_delivery(self, delivery: Delivery, delay: float) -> None:
        """Queue a webhook delivery attempt to run `delay` seconds from now."""

    async def run(self) -> None:
        """Run queued jobs in this process until stop(); never cancel it instead (a cancel
        landing while connections open leaves them half-made)."""

    def stop(self) -> None:
        """Ask run() to return (from any thread); a running job may be left to the next start."""

    def close(self) -> None:
        """Release what defer() opened."""


def make_queue(settings: Settings, processor: Processor, *, inline: bool = False) -> JobQueue:
    """The queue for this catalog; `inline` (the CLI on SQLite) runs each job as it is queued."""
    if make_url(settings.catalog_url).get_backend_name() == "postgresql":
        return PostgresQueue(settings, processor)
    if inline:
        return InlineQueue(processor)
    return LocalQueue(processor, settings.job_concurrency)


def run_with_retries(processor: Processor, task: str, media_id: str, stop: threading.Event) -> None:
    """One job with its retries, in the calling thread (the in-process queues)."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            with timed_job(task):
                processor.run(task, media_id, final=attempt == MAX_ATTEMPTS - 1)
            return
        except TryAgain as exc:
            log.info("%s of %s will run again: %s", task, media_id, exc)
            if stop.wait(retry_delay(attempt)):
                return  # shutting down: the next start re-queues it


class InlineQueue:
    """Runs each job at once in the caller: `amps import` on SQLite ends with clips prepared."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor
        self._stop = threading.Event()
        processor.webhooks.send = self.defer_delivery

    def defer(self, task: str, media_id: str) -> None:
        run_with_retries(self.processor, task, media_id, self._stop)

    def defer_delivery(self, delivery: Delivery, delay: float) -> None:
        """One attempt at once, in the caller: the back-off runs to hours, which a command
        must not wait out, and no server runs here to retry later."""
        with timed_job(WEBHOOK_TASK):
            wait = self.processor.webhooks.deliver(delivery)
        if wait is not None:
            log.warning("%s to %s failed; a command sends it once only", delivery.event,
                        delivery.endpoint)  # fmt: skip

    async def run(self) -> None:
        await until_set(self._stop)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.processor.webhooks.close()


class LocalQueue:
    """Daemon threads of this process fed from memory; the catalog makes it restart-safe."""

    def __init__(self, processor: Processor, concurrency: int) -> None:
        self.processor = processor
        self.concurrency = concurrency
        self._jobs: queue.SimpleQueue[tuple[str, str] | Delivery] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._running = False
        processor.webhooks.send = self.defer_delivery

    def defer(self, task: str, media_id: str) -> None:
        if not self._running:
            log.info("%s of %s waits for a server that runs jobs (AMPS_RUN_JOBS)", task, media_id)
            return
        self._put((task, media_id))

    def defer_delivery(self, delivery: Delivery, delay: float) -> None:
        """Held in memory: a restart loses the deliveries still waiting (SQLite's one box)."""
        if self._stop.is_set():
            return  # shutting down
        if not self._running:
            log.warning("%s to %s not sent: this server runs no jobs (AMPS_RUN_JOBS)",
                        delivery.event, delivery.endpoint)  # fmt: skip
        elif delay <= 0:
            self._put(delivery)
        else:
            timer = threading.Timer(delay, self._put, args=(delivery,))
            timer.daemon = True
            timer.start()

    def _put(self, job: tuple[str, str] | Delivery) -> None:
        if not self._stop.is_set():
            self._jobs.put(job)
            JOBS_QUEUED.set(self._jobs.qsize())

    async def run(self) -> None:
        self._running = True
        for number in range(self.concurrency):
            # Daemon threads: a shutdown never waits for a transcode; the next start redoes it.
            threading.Thread(target=self._work, name=f"amps-job-{number}", daemon=True).start()
        try:
            for media_id in await asyncio.to_thread(self.processor.pending):
                self.defer("process", media_id)
            for media_id, task in await asyncio.to_thread(self.processor.pending_captions):
                self.defer(task, media_id)
            await until_set(self._stop)
        finally:
            self.stop()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=1)
            except queue.Empty:
                continue
            JOBS_QUEUED.set(self._jobs.qsize())
            if isinstance(job, Delivery):
                self._deliver(job)
                continue
            task, media_id = job
            try:
                run_with_retries(self.processor, task, media_id, self._stop)
            except Exception:  # the thread must live on for the next job
                log.exception("%s of %s failed; it runs again at the next start", task, media_id)

    def _deliver(self, delivery: Delivery) -> None:
        try:
            with timed_job(WEBHOOK_TASK):
                wait = self.processor.webhooks.deliver(delivery)
        except Exception:  # the thread must live on for the next job
            log.exception("delivery of %s failed", delivery.message_id)
            return
        if wait is not None:
            self.defer_delivery(delivery.next_attempt(), wait)

    def stop(self) -> None:
        self._running = False
        self._stop.set()

    def close(self) -> None:
        self.stop()
        self.processor.webhooks.close()


def libpq_url(catalog_url: str) -> str:
    """The catalog's SQLAlchemy URL as libpq takes it (search_path options included)."""
    url = make_url(catalog_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def procrastinate_app(connector: Any, processor: Processor) -> Any:
    """A procrastinate App with our tasks, each a thin call into the processor."""
    import procrastinate

    app = procrastinate.App(connector=connector)
    # max_attempts counts retries after the first run.
    strategy = procrastinate.RetryStrategy(
        max_attempts=MAX_ATTEMPTS - 1, wait=5, linear_wait=25, retry_exceptions={TryAgain}
    )
    for name in TASKS:
        app.task(name=name, pass_context=True, retry=strategy)(_task(processor, name))
    app.task(name=WEBHOOK_TASK)(_delivery_task(processor))
    return app


def _task(processor: Processor, name: str) -> Any:
    def run(context: Any, media_id: str) -> None:
        final = context.job.attempts >= MAX_ATTEMPTS - 1
        with timed_job(name):
            processor.run(name, media_id, final=final)

    run.__name__ = name
    return run


def _delivery_task(processor: Processor) -> Any:
    """One attempt; a failed one queues the next itself (the back-off is the webhooks')."""

    def webhook(**job: Any) -> None:
        delivery = Delivery(**job)
        with timed_job(WEBHOOK_TASK):
            wait = processor.webhooks.deliver(delivery)
        if wait is not None and processor.webhooks.send is not None:
            processor.webhooks.send(delivery.next_attempt(), wait)

    return webhook


class PostgresQueue:
    """procrastinate: deferred from any thread through a small sync pool, run by workers."""

    def __init__(self, settings: Settings, processor: Processor) -> None:
        self.settings = settings
        self.processor = processor
        self.conninfo = libpq_url(settings.catalog_url)
        self._deferrer: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        processor.webhooks.send = self.defer_delivery

    def _opened_deferrer(self) -> Any:
        from procrastinate import SyncPsycopgConnector

        with self._lock:
            if self._deferrer is None:
                connector = SyncPsycopgConnector(conninfo=self.conninfo, min_size=1, max_size=4)
                self._deferrer = procrastinate_app(connector, self.processor).open()
            return self._deferrer

    def defer(self, task: str, media_id: str) -> None:
        # One job per clip runs at a time (the lock), in the order queued; a twin of a job
        # finds the work done and ends at once. (No queueing_lock: it would stop a stalled
        # job from going back into the queue while its twin waits there.)
        self._opened_deferrer().configure_task(task, lock=media_id).defer(media_id=media_id)

    def defer_delivery(self, delivery: Delivery, delay: float) -> None:
        task = self._opened_deferrer().configure_task(
            WEBHOOK_TASK, schedule_in={"seconds": max(0, round(delay))}
        )
        task.defer(**delivery.as_job())

    def _requeue_pending(self, queued: set[str]) -> None:
        for media_id in self.processor.pending():
            if media_id not in queued:
                self.defer("process", media_id)

    @staticmethod
    async def _queued_clips(app: Any) -> set[str]:
        """Clips with a job waiting or running (a stalled one counts: it will be rescued)."""
        manager = app.job_manager
        jobs = [
            job
            for status in ("todo", "doing")
            for job in await manager.list_jobs_async(status=status)
        ]
        return {str(job.task_kwargs.get("media_id")) for job in jobs}

    async def run(self) -> None:
        from procrastinate import PsycopgConnector
        from procrastinate.worker import Worker

        stalled = self.settings.job_stalled_after
        connector = PsycopgConnector(conninfo=self.conninfo, min_size=1, max_size=4)
        app = procrastinate_app(connector, self.processor)
        async with app.open_async():
            if self._stop.is_set():
                return
            # A clip recorded just before its process died may have no job: queue one.
            queued = await self._queued_clips(app)
            await asyncio.to_thread(self._requeue_pending, queued)
            worker: Any = Worker(
                app,
                concurrency=self.settings.job_concurrency,
                install_signal_handlers=False,
                update_heartbeat_interval=stalled / 3,
                stalled_worker_timeout=stalled,
                shutdown_graceful_timeout=5,
                delete_jobs="successful",
            )
            running = asyncio.create_task(worker.run())
            rescuer = asyncio.create_task(self._rescue_stalled(app, stalled))
            counter = asyncio.create_task(self._count_waiting(app))
            stopped = asyncio.create_task(until_set(self._stop))
            await asyncio.wait([running, stopped], return_when=asyncio.FIRST_COMPLETED)
            self._stop.set()
            # A stop asked for while the worker starts up can be lost: ask until it ends.
            while not running.done():
                worker.stop()
                await asyncio.wait([running], timeout=0.5)
            await asyncio.wait([rescuer, stopped, counter])
            running.result()

    async def _count_waiting(self, app: Any) -> None:
        """Keep the queue-depth metric: the jobs waiting now, every DEPTH_EVERY seconds."""
        while True:
            try:
                queues = await app.job_manager.list_queues_async(status="todo")
                JOBS_QUEUED.set(sum(row["todo"] for row in queues))
            except Exception:  # the database may be briefly away: count at the next round
                log.debug("could not count the waiting jobs", exc_info=True)
            if await until_set(self._stop, DEPTH_EVERY):
                return

    async def _rescue_stalled(self, app: Any, stalled: float) -> None:
        """Put the jobs of workers silent for `stalled` seconds back in the queue."""
        while not await until_set(self._stop, stalled / 3):
            try:
                for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled):
                    log.warning("job %s (%s) was left by a dead worker: queued again", job.id,
                                job.task_name)  # fmt: skip
                    await app.job_manager.retry_job(job)
            except Exception:  # the database may be briefly away: try at the next round
                log.exception("could not look for stalled jobs")

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        with self._lock:
            if self._deferrer is not None:
                self._deferrer.close()
                self._deferrer = None
        self.processor.webhooks.close()
