"""Background jobs of the dock widgets: a Run / Cancel widget, progress, errors as notifications.

A long job runs as ``fn(emit, should_stop)`` on a helper thread (:func:`stream`), driven by a
napari ``thread_worker`` generator that yields whatever ``fn`` emits, so the main thread gets
each progress report through the worker's ``yielded`` signal while the Qt event loop keeps
running. Cancel sets ``should_stop`` (the core checks it between batches or files) and quits the
worker; closing the widget does the same. Errors become napari notifications, never tracebacks.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

from qtpy.QtCore import QEvent
from qtpy.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from napari_mousestop.progress import Progress

_DONE = object()



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


def _stop_job(stop: threading.Event, worker: Any, *_: Any) -> None:
    stop.set()
    try:
        worker.quit()
    except RuntimeError:  # the worker's Qt side is already gone
        pass


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
        """Whether a job is running."""
        return self.worker is not None

    def start_job(
        self,
        fn: Callable,
        on_item: Callable[[Any], None],
        on_done: Callable[[Any], None],
        total: int = 0,
        description: str = "",
    ) -> Any:
        """Run ``fn(emit, should_stop)`` off the main thread (see :func:`stream`).

        ``on_item`` receives every emitted item and ``on_done`` the result, both on the main
        thread; a napari progress bar of ``total`` steps is shown while it runs.
        """
        from napari.qt.threading import thread_worker
        from napari.utils import progress

        if self.running:
            notify_error("a job is already running in this widget; cancel it first")
            return None
        stop = threading.Event()
        worker = thread_worker(stream, start_thread=False, ignore_errors=True)(fn, stop)
        self._stop, self.worker = stop, worker
        self._pbar = progress(total=max(int(total), 0), desc=description or "mousestop")
        # bound methods of this QObject, so Qt queues the calls to the main thread (a lambda
        # or a plain function would run on the worker's thread)
        self._on_item_cb, self._on_done_cb = on_item, on_done
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_worker_finished)
        self.destroyed.connect(partial(_stop_job, stop, worker))
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"{description or 'running'}...")
        worker.start()
        return worker

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
            _stop_job(self._stop, self.worker)

    # Signals of the job are handled strictly one after the other, in order: napari's
    # progress widget (and layer insertion) process Qt events, which would otherwise run a
    # later signal's handler in the middle of an earlier one.
    def _post(self, handler: Callable, *args: Any) -> None:
        self._pending.append((handler, args))
        if self._draining:
            return
        self._draining = True
        try:
            while self._pending:
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
        if self._stop is not None and not self._stop.is_set():
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
            self.status.setText("cancelled")
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


__all__ = ["JobWidget", "notify_error", "stream"]
