"""``liveroom run``: serve the configured adapters, and the signal handling around start-up.

`serve` is shared with ``liveroom dashboard`` (`bots.cli.dashboard`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from bots.cli.settings import EXIT_RUNTIME, Settings

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from types import FrameType
    from typing import NoReturn

    from bots.app import Runtime

__all__ = ["run", "serve"]


@click.command()
@click.option("--role", type=click.Choice(["all", "ingress", "worker"]), default="all", show_default=True,
              help="all: one process serves everything (no Redis). ingress: hold the platform connections and "
                   "post replies; worker: serve a share of the rooms. Both need distributed.redis_url.")
@click.pass_obj
def run(settings: Settings, role: str) -> None:
    """Start the adapters the config enables (the shipped config: a console room).

    Ctrl-C (SIGINT) or SIGTERM stops it gracefully within seconds, with exit
    code 0, whenever it comes (also while it starts or loads the knowledge
    base, or when a platform's server no longer answers: an adapter that has
    not stopped after 3 s is left behind); everything said is kept. A second
    signal exits at once once the store has written what it holds (exit code
    130 after Ctrl-C, 143 after SIGTERM). With ``--role ingress`` and ``--role worker``
    the rooms are spread over processes through Redis (README, "When one machine
    is not enough").
    """
    if role == "all":
        serve(settings)
    else:
        serve_role(settings, role)


def serve_role(settings: Settings, role: str) -> None:
    """An ingress or a worker of a distributed deployment, until a stop signal."""
    try:
        with _stop_early_on_signals():
            _serve_role(settings, role)
    except _StoppedEarly:
        click.echo("liveroom: stopped while starting", err=True)


def _serve_role(settings: Settings, role: str) -> None:
    from bots.app import NoAdapterError, configured_adapters
    from bots.distributed.roles import connect, serve_ingress, serve_worker
    config = settings.config()
    if config.distributed.redis_url is None:
        raise click.ClickException(f"--role {role} needs distributed.redis_url in the config (a Redis server)")
    adapters = []
    if role == "ingress":
        try:
            adapters = configured_adapters(config)
        except NoAdapterError as exc:
            raise click.ClickException(str(exc)) from None
    runtime = settings.runtime()

    async def main() -> None:
        try:
            redis = await connect(config.distributed)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
        try:
            if role == "ingress":
                stats = await serve_ingress(runtime, adapters, redis, config.distributed)
                runtime.abandoned.extend(stats.abandoned)
            else:
                await serve_worker(runtime, redis, config.distributed)
        finally:
            await redis.aclose()  # type: ignore[attr-defined]
        _leave_if_abandoned(runtime)

    try:
        asyncio.run(main())
    finally:
        runtime.close()
        if runtime.brain.busy:
            _exit_leaving_the_load(sys.exc_info()[1])


class _StoppedEarly(BaseException):
    """SIGINT/SIGTERM before the event loop took the signals over (imports, config, the store).

    A BaseException, like KeyboardInterrupt: no ``except Exception`` on the way may swallow it.
    """


def _stop_early(signum: int, frame: "FrameType | None") -> None:
    raise _StoppedEarly(signum)


@contextmanager
def _stop_early_on_signals() -> "Iterator[None]":
    """SIGINT/SIGTERM end start-up at once, with the exit code of a graceful stop (0).

    Start-up takes seconds (imports, opening and migrating the store) and nothing
    has been received yet, so unwinding is the whole graceful stop; by default
    SIGTERM would kill the process (-15) and SIGINT print a traceback.
    `Runtime.serve` takes both signals over before its first await; the previous
    handlers come back afterwards (in-process callers such as tests keep theirs).
    Before this runs (Python starting, the package guard: ~0.3 s) the default
    actions apply, which end the process at once too.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in stops}
    for sig in stops:
        signal.signal(sig, _stop_early)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: installed outside Python, cannot be put back
                signal.signal(sig, handler)


def serve(settings: Settings) -> None:
    """Build the runtime and serve the configured adapters until they end or a stop signal."""
    try:
        with _stop_early_on_signals():
            _serve(settings)
    except _StoppedEarly:
        click.echo("liveroom: stopped while starting", err=True)


def _serve(settings: Settings) -> None:
    """`serve` inside its early signal handlers: the runtime is closed (the store flushed) however it ends."""
    from adapters.base import AdapterError
    from bots.app import NoAdapterError, configured_adapters
    config = settings.config()
    try:
        adapters = configured_adapters(config)
    except NoAdapterError as exc:
        raise click.ClickException(str(exc)) from None
    runtime = settings.runtime()

    async def serve_then_leave() -> None:
        await runtime.serve(adapters, on_second_signal=_exit_now)
        _leave_if_abandoned(runtime)

    try:
        asyncio.run(serve_then_leave())
    except (AdapterError, OSError) as exc:  # OSError: the dashboard's port is taken
        raise click.ClickException(str(exc)) from None
    finally:
        runtime.close()
        if runtime.brain.busy:  # stopped while the model loads: do not wait for it at exit
            _exit_leaving_the_load(sys.exc_info()[1])  # in a finally: the error on its way out, if any


def _leave_if_abandoned(runtime: "Runtime") -> None:
    """Exit now (exit code 0: the stop was graceful for everything else) if an adapter was abandoned.

    Its task may ignore cancellation (a library waiting on a server that never answers), and
    ``asyncio.run`` would wait for it for ever while cleaning up. The runtime has drained and
    flushed everything it could; closing it commits the store.
    """
    if runtime.abandoned:
        runtime.close()
        _exit_now(0)


def _exit_leaving_the_load(error: BaseException | None) -> "NoReturn":
    """End the process now: the store is closed, but the model still loads on its daemon thread.

    Finalising the interpreter under that thread can abort the process (torch's
    C++ code: "terminate called without an active exception", exit -6), and the
    atexit hook that prevents it waits for the load. What the interpreter would
    still do here (report the error, flush the output and the log) is done first.
    """
    code = 0
    if isinstance(error, click.ClickException):
        error.show()
        code = error.exit_code
    elif error is not None:
        sys.excepthook(type(error), error, error.__traceback__)
        code = EXIT_RUNTIME
    _exit_now(code)


def _exit_now(code: int) -> "NoReturn":
    """End the process with ``code`` after flushing the log and the output, without the interpreter's
    clean-up (it would wait for threads and tasks that may never end). The store is the caller's."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a broken pipe: nothing left to save
            pass
    os._exit(code)
