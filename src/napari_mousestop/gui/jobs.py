"""Background jobs of the dock widgets: a Run / Cancel widget, progress, errors as notifications.

A job is ``fn(emit, should_stop)``: ``emit(item)`` sends an item (a
:class:`~napari_mousestop.progress.Progress`, or finished layer data) to the main thread and
``should_stop()`` is True once the user cancelled. napari's event loop never waits on it:

* **In a process** (:func:`run_in_process`, the default of :meth:`JobWidget.start_job`): ``fn``
  runs in a fresh process (multiprocessing's ``spawn`` context), so its Python work never holds
  napari's GIL. ``fn`` must be picklable (a module-level function, an instance of a
  module-level class or a :func:`functools.partial` of one) and should load its own files;
  what it emits and returns comes back pickled through a queue. Cancel sets an event the
  process reads through ``should_stop``; a process still running :data:`CANCEL_GRACE_S`
  after Cancel is ended, with every process it started. An error raised in the process
  reaches the user as its one-line message (:class:`JobError` when the exception itself
  cannot travel between processes).
* **In a thread** (:func:`stream`): for short jobs that only release the GIL (or tests that
  patch functions of napari's process).

Either way a napari ``thread_worker`` generator yields what the job emits, so the main thread
gets each item through the worker's ``yielded`` signal, strictly in order; results should be
emitted as finished layer data tuples and added in one batch (:meth:`JobWidget.add_layers`).
Errors become napari notifications, never tracebacks.
"""

from __future__ import annotations

import atexit
import pickle
import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

from qtpy.QtCore import QEvent
from qtpy.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from napari_mousestop.errors import Cancelled, MousestopError
from napari_mousestop.progress import Progress

_DONE = object()
CANCEL_GRACE_S = 10.0
"""Seconds a cancelled job's process has to stop by itself before it is ended."""
POLL_S = 0.1
"""How often the reading side checks for Cancel while the process is quiet."""

_RUNNING: set = set()  # job processes alive in this interpreter (ended at exit)


class Ended(str):
    """Yielded by :func:`run_in_process` when a cancelled job's process had to be ended (it did
    not stop within :data:`CANCEL_GRACE_S`); the text says so."""


class JobError(MousestopError, RuntimeError):
    """A job's process failed with an exception that could not be sent back as it was, or
    ended without a word (killed, crashed); the message says what happened."""


def _picklable(exc: BaseException) -> BaseException:
    """``exc`` when it survives a round trip through pickle, else a :class:`JobError` with its
    message (the traceback goes to the process's stderr)."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any failure to travel: send the message instead
        return JobError(f"{type(exc).__name__}: {exc}")


def _put(items: Any, kind: str, payload: Any) -> None:
    """Send ``(kind, payload)`` as plain pickle bytes: multiprocessing's own pickler would
    send torch tensors through shared memory, gone once this process ends."""
    items.put(pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL))


def _child(fn: Callable, items: Any, halt: Any) -> None:
    """The job process: run ``fn`` and report every item, its result or its error on ``items``."""
    try:
        value = fn(partial(_put, items, "item"), halt.is_set)
    except Cancelled:
        _put(items, "cancelled", None)
    except BaseException as exc:  # noqa: BLE001 - reported to the main process
        if not isinstance(exc, MousestopError | ValueError | OSError):
            traceback.print_exc()  # a bug: keep the whole story on the terminal
        _put(items, "error", _picklable(exc))
    else:
        _put(items, "cancelled" if halt.is_set() else "done", value)
    items.close()
    items.join_thread()


def _end_process(proc: Any) -> None:
    """End ``proc`` and every process it started (Dask workers of a training run...)."""
    try:
        import psutil

        kids = psutil.Process(proc.pid).children(recursive=True)
    except Exception:  # noqa: BLE001 - no psutil, or the process is already gone
        kids = []
    for p in [*kids]:
        try:
            p.kill()
        except Exception:  # noqa: BLE001,S110 - already ended
            pass
    if proc.is_alive():
        proc.kill()
    proc.join(5.0)


@atexit.register
def _end_all() -> None:  # before multiprocessing's own exit handler would wait for them
    for proc in list(_RUNNING):
        _end_process(proc)


def run_in_process(fn: Callable, stop: threading.Event) -> Generator[Any, None, Any]:
    """Run ``fn(emit, should_stop)`` in a new process; yield what it emits; return its result.

    Parameters
    ----------
    fn
        The job, picklable. ``emit(item)`` sends ``item`` (picklable) to this process;
        ``should_stop()`` is True once ``stop`` was set.
    stop
        Set by Cancel (or by closing the widget).

    Returns
    -------
    Any
        What ``fn`` returned; None when it was cancelled (the process raised
        :class:`~napari_mousestop.errors.Cancelled`, or was ended
        :data:`CANCEL_GRACE_S` after ``stop`` was set).

    Raises
    ------
    Exception
        What ``fn`` raised (or :class:`JobError`, see :func:`_picklable`), or
        :class:`JobError` when the process ended without reporting.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    items = ctx.Queue()
    halt = ctx.Event()
    proc = ctx.Process(target=_child, args=(fn, items, halt), name="mousestop-job")
    proc.start()
    _RUNNING.add(proc)
    stopped_at: float | None = None
    try:
        while True:
            if stop.is_set() and stopped_at is None:
                halt.set()
                stopped_at = time.monotonic()
            try:
                kind, payload = pickle.loads(items.get(timeout=POLL_S))
            except queue.Empty:
                if stopped_at is not None and time.monotonic() - stopped_at > CANCEL_GRACE_S:
                    _end_process(proc)
                    yield Ended(f"cancelled; the job did not stop within {CANCEL_GRACE_S:g} s "
                                "and its process was ended")  # fmt: skip
                    return None
                if not proc.is_alive():
                    try:  # its last words may still be in the pipe
                        kind, payload = pickle.loads(items.get(timeout=1.0))
                    except queue.Empty:
                        if stopped_at is not None:
                            return None
                        raise JobError(
                            f"the job's process ended without a result (exit code {proc.exitcode})"
                        ) from None
                else:
                    continue
            if kind == "item":
                if stopped_at is None:
                    yield payload
                continue
            if kind == "done":
                return None if stop.is_set() else payload
            if kind == "cancelled":
                return None
            if stopped_at is not None:  # an error after Cancel: the user asked to stop
                return None
            raise payload
    finally:  # done, failed, cancelled, or the generator was closed early
        halt.set()
        proc.join(CANCEL_GRACE_S if stopped_at is None and not stop.is_set() else 0.5)
        if proc.is_alive():
            _end_process(proc)
        _RUNNING.discard(proc)
        items.cancel_join_thread()
        items.close()


def stream(fn: Callable, stop: threading.Event) -> Generator[Any, None, Any]:
    """Run ``fn(emit, should_stop)`` on a helper thread; yield what it emits; return its result.

    Parameters
    ----------
    fn
        The job. ``emit(item)`` sends ``item`` to the main thread; ``should_stop()`` is True
        once the user cancelled.
    stop
        Set by Cancel (or by closing the widget).

    Returns
    -------
    Any
        What ``fn`` returned; None when it was cancelled. Exceptions other than cancellation
        are re-raised (the worker's ``errored`` signal carries them to the main thread).
    """
    items: queue.Queue = queue.Queue()
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn(items.put, stop.is_set)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread below
            out["error"] = exc
        finally:
            items.put(_DONE)

    helper = threading.Thread(target=target, name="mousestop-job", daemon=True)
    helper.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                break
            yield item
    finally:
        if helper.is_alive():  # the generator was closed early: stop the helper
            stop.set()
            helper.join()
    if stop.is_set():
        return None
    if "error" in out:
        raise out["error"]
    return out.get("value")


_WARM: list = []


def _warm_units() -> None:
    """Do napari's first-layer costs on a helper thread, once, before a job's layers come:
    build pint's unit registry (layers and colour bars need it; about a second of pure Python
    the first time) and import scipy.ndimage (an image layer's first thumbnail imports it:
    half a second of the main thread otherwise)."""
    if _WARM:
        return

    def warm() -> None:
        import pint
        import scipy.ndimage  # noqa: F401 - imported for napari's thumbnails

        pint.get_application_registry().cm  # noqa: B018 - the first look-up builds it

    _WARM.append(threading.Thread(target=warm, name="mousestop-units", daemon=True))
    _WARM[0].start()


def _stop_job(stop: threading.Event, *_: Any) -> None:
    """Ask a job to stop. The worker is not quit: its generator sees ``stop`` by itself and
    returns, so that its clean-up (ending the job's process) always runs on its thread."""
    stop.set()


def notify_error(exc: BaseException | str) -> None:
    """Show ``exc`` as a napari error notification (one line, no traceback)."""
    from napari.utils.notifications import show_error

    text = str(exc) if str(exc) else type(exc).__name__
    show_error(text.splitlines()[0] if len(text) > 400 else text)


class JobWidget(QWidget):
    """A dock widget with Run / Cancel, a status line and one background job at a time.

    Subclasses call :meth:`start_job` from their Run handler.
    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.worker: Any = None
        self._stop: threading.Event | None = None
        self._pbar: Any = None
        self._pending: deque = deque()
        self._draining = False
        self._ended = ""
        self._adding = 0
        _warm_units()
        self.setLayout(QVBoxLayout())
        self.layout().setContentsMargins(4, 4, 4, 4)
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the running job (within one epoch or file)")
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._buttons = QWidget()
        row = QHBoxLayout(self._buttons)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)

    # -- jobs ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether a job is running, or its layers are still being added."""
        return self.worker is not None or self._adding > 0

    def start_job(
        self,
        fn: Callable,
        on_item: Callable[[Any], None],
        on_done: Callable[[Any], None],
        total: int = 0,
        description: str = "",
        process: bool = True,
    ) -> Any:
        """Run ``fn(emit, should_stop)`` off the main thread.

        ``on_item`` receives every emitted item other than a
        :class:`~napari_mousestop.progress.Progress` and ``on_done`` the result, both on the
        main thread; a napari progress bar of ``total`` steps is shown while it runs.
        ``process``: in a new process (:func:`run_in_process`; ``fn`` picklable), else on a
        helper thread (:func:`stream`).
        """
        from napari.qt.threading import thread_worker
        from napari.utils import progress

        if self.running:
            notify_error("a job is already running in this widget; cancel it first")
            return None
        stop = threading.Event()
        runner = run_in_process if process else stream
        worker = thread_worker(runner, start_thread=False, ignore_errors=True)(fn, stop)
        self._stop, self.worker = stop, worker
        self._pbar = progress(total=max(int(total), 0), desc=description or "mousestop")
        # bound methods of this QObject, so Qt queues the calls to the main thread (a lambda
        # or a plain function would run on the worker's thread)
        self._on_item_cb, self._on_done_cb = on_item, on_done
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_worker_finished)
        self.destroyed.connect(partial(_stop_job, stop))
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"{description or 'running'}...")
        worker.start()
        return worker

    def add_layers(self, layer_data: list, then: Callable[[], None] | None = None) -> None:
        """Add (or update by name) a job's finished layer data tuples, all of them, then dock
        the Explore widget when a mosaic came (see
        :func:`~napari_mousestop.gui.widgets.common.upsert_layers`) and call ``then``.

        napari builds a layer's visuals on the main thread (a tenth of a second or more each),
        so the layers go in one per turn of the event loop, which keeps turning in between;
        the job's later signals (its result, its end) are handled once the last layer is in,
        and :attr:`running` stays true until then.
        """
        from qtpy.QtCore import QTimer

        from napari_mousestop.gui.layers.mosaic import MOSAIC_KEY
        from napari_mousestop.gui.reader import dock_explorer
        from napari_mousestop.gui.widgets.common import upsert_layers

        todo = deque(layer_data)
        mosaic = any(MOSAIC_KEY in kwargs.get("metadata", {}) for _, kwargs, _ in layer_data)
        self._adding += 1

        def step() -> None:
            try:
                if todo:
                    upsert_layers(self.viewer, [todo.popleft()])
                    QTimer.singleShot(0, step)
                    return
                if mosaic:
                    dock_explorer(self.viewer)
                    # fitted once the dock has taken its room from the canvas
                    QTimer.singleShot(0, self.viewer.reset_view)
                if then is not None:
                    then()
            except Exception as exc:  # noqa: BLE001 - a layer napari refuses: say so, go on
                notify_error(f"the results could not all be shown ({exc})")
                todo.clear()
            self._adding -= 1
            self._drain()

        QTimer.singleShot(0, step)

    def set_progress(self, done: int, total: int | None = None, text: str | None = None) -> None:
        """Move the napari progress bar (main thread only).

        napari's progress widget processes Qt events while it repaints, so later signals of
        the job may be handled inside this call: the status is set first and the bar last.
        """
        pbar = self._pbar
        if pbar is None:
            return
        if text:
            self.status.setText(text)
        if total is not None and total != pbar.total:
            pbar.total = int(total)
        step = int(done) - int(pbar.n)
        if text:
            pbar.set_description(text)
        if step and self._pbar is pbar:
            pbar.update(step)

    def cancel(self) -> None:
        """Ask the running job to stop; the viewer stays usable meanwhile."""
        if self._stop is not None and self.worker is not None:
            self.status.setText("cancelling...")
            _stop_job(self._stop)

    # Signals of the job are handled strictly one after the other, in order: napari's
    # progress widget (and layer insertion) process Qt events, which would otherwise run a
    # later signal's handler in the middle of an earlier one.
    # Layers being added (add_layers) hold back the later signals until they are all in.
    def _post(self, handler: Callable, *args: Any) -> None:
        self._pending.append((handler, args))
        self._drain()

    def _drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            while self._pending and not self._adding:
                handler, args = self._pending.popleft()
                handler(*args)
        finally:
            self._draining = False

    def _on_yielded(self, item: Any) -> None:
        self._post(self._handle_item, item)

    def _on_returned(self, value: Any) -> None:
        self._post(self._handle_done, value)

    def _on_errored(self, exc: BaseException) -> None:
        self._post(self._on_error, exc)

    def _on_worker_finished(self) -> None:
        self._post(self._on_finished)

    def _handle_item(self, item: Any) -> None:
        if isinstance(item, Ended):
            self._ended = str(item)
        elif self._stop is not None and not self._stop.is_set():
            if isinstance(item, Progress):
                self.on_progress(item)
            else:
                self._on_item_cb(item)

    def on_progress(self, p: Progress) -> None:
        """Show a job's :class:`~napari_mousestop.progress.Progress` on the progress bar."""
        self.set_progress(p.done, p.total, p.message)

    def _handle_done(self, value: Any) -> None:
        if self._stop is not None and not self._stop.is_set():
            self._on_done_cb(value)

    def _on_error(self, exc: BaseException) -> None:
        if self._stop is not None and self._stop.is_set():
            return
        self.status.setText(f"failed: {exc}")
        notify_error(exc)

    def _on_finished(self) -> None:
        if self._stop is not None and self._stop.is_set():
            self.status.setText(self._ended or "cancelled")
        self._ended = ""
        pbar = self._pbar
        self._pbar = None
        self.worker = None
        self._stop = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if pbar is not None:
            pbar.close()  # last: napari's progress widget processes events here

    # -- closing the widget stops its job -------------------------------------------------------
    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        self.cancel()
        super().closeEvent(event)

    def event(self, event: Any) -> bool:
        # napari removes a dock widget by re-parenting its content to None
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self.cancel()
        return super().event(event)


__all__ = [
    "CANCEL_GRACE_S",
    "Ended",
    "JobError",
    "JobWidget",
    "notify_error",
    "run_in_process",
    "stream",
]
