"""The export pipeline: one :class:`ExportJob` in, the bytes of its files out.

One download, top to bottom (each step only when the one before has no answer):

1. :meth:`ExportPipeline.open` asks the spool for the stream's file plan (``spool.py``): this
   worker's plan in memory, else the plan another worker wrote beside the stream on disk;
2. else the spool renders the stream once into a file, taking its lines from :meth:`_lines`:
3. the template of the job (``templates.py``: rows rendered once per world and export, with the
   URLs filled in per task), built first if need be, else
4. :meth:`_render`: the rows drawn and rendered, by helper processes for a big world
   (``render_workers.py``, in row order) or here, by :meth:`ExportJob.lines`;
5. the file's byte range of the spooled stream, opened for the HTTP layer to send.

Faults, tasks and signatures are the backend's: they are settled in the job before it gets here.
DICOM volumes (``volume_cache.py``) are kept here too: files on disk beside the streams.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import BinaryIO

from lbmock.export import ExportFilters, ExportScope
from lbmock.mockserver.errors import NotFound
from lbmock.mockserver.exports.job import RESULT, ExportJob
from lbmock.mockserver.exports.keys import world_key
from lbmock.mockserver.exports.progress import ProgressView, RenderProgress
from lbmock.mockserver.exports.render_workers import RenderWorkers
from lbmock.mockserver.exports.spool import PLAN_CACHE, Lines, Spool, StreamPlan
from lbmock.mockserver.exports.templates import TEMPLATE_URLS, ExportTemplates
from lbmock.mockserver.exports.volume_cache import VolumeCache
from lbmock.render.v2 import ExportParams
from lbmock.world import World

__all__ = ["ExportPipeline"]


class ExportPipeline:
    """Rendered export streams and DICOM volumes of one backend, on disk in ``spool_dir`` (shared
    by every worker pointing there; None: a private temporary directory, made on first use)."""

    def __init__(self, spool_dir: str | None, file_bytes: int, render_processes: int = 0,
                 template_cache: str | None = None) -> None:
        # Nothing starts here: directories are made and helpers spawned on first use, or by ahead().
        self.spool = Spool(spool_dir, file_bytes)
        self.templates = ExportTemplates(self.spool.scratch_dir, template_cache)
        self.render_workers = RenderWorkers(render_processes)
        self.volumes = VolumeCache(os.path.join(spool_dir, "volumes") if spool_dir else None)
        # the render each stream's lines came from, by stream key (this process's renders; as many as plans)
        self._renders: OrderedDict[str, RenderProgress] = OrderedDict()
        self._renders_lock = threading.Lock()  # leaf

    # ------------------------------------------------------------ the way in

    def open(self, job: ExportJob, index: int | None = None) -> tuple[BinaryIO, int] | None:
        """File ``index`` of the job's stream (``None``: the whole stream, as 3.40.1's ``result`` URL
        and ``/export-results`` serve it): the spooled stream opened at the file's first byte, and the
        file's length; ``None`` for an empty stream; NotFound past the last file.  The caller closes
        the handle."""
        plan = self.spool.plan(self.stream_key(job), lambda: self._lines(job))
        if index is not None and index >= len(plan.files):
            raise NotFound(f"task {job.task_id} has no {job.stream} file {index}")
        if not plan.total_lines:
            return None
        start, end = plan.files[index].offsets if index is not None else (0, plan.total_size - 1)
        return self.spool.open_at(self.stream_key(job), lambda: self._lines(job), start), end - start + 1

    def plan(self, job: ExportJob) -> StreamPlan | None:
        """The file plan of the job's stream, rendering it the first time (a header read); ``None``
        for an empty stream (the API's null header)."""
        plan = self.spool.plan(self.stream_key(job), lambda: self._lines(job))
        return plan if plan.total_lines else None

    def rendered(self, job: ExportJob) -> StreamPlan | None:
        """The job's stream plan if any worker rendered it already; never renders."""
        return self.spool.planned(self.stream_key(job))

    def progress(self, job: ExportJob) -> ProgressView | None:
        """How far the render of the job's stream has got in this process: the render its lines come
        from (finished ones too, while the plan is remembered), else a template build under way that
        they would come from (a build ahead); None if neither."""
        with self._renders_lock:
            progress = self._renders.get(self.stream_key(job))
        if progress is None:
            progress = self.templates.progress(job)
        return None if progress is None else progress.read()

    def knows(self, job: ExportJob) -> bool:
        """Whether this worker has the job's stream plan at hand (nothing is read)."""
        return self.spool.known_plan(self.stream_key(job)) is not None

    @staticmethod
    def stream_key(job: ExportJob) -> str:
        """The stream's name in the spool: the task's stream, its world and lbmock's code (a spool
        beside a state file outlives the server, and may be shared by servers of other worlds)."""
        return f"{job.name}-{world_key(job.world) or 'unnamed'}"

    # ------------------------------------------------------------ the route of the bytes

    def _lines(self, job: ExportJob) -> Lines:
        """The stream's lines: filled in from a template when the job can use one, else rendered."""
        lines, progress = self.templates.lines(job, self._render)
        if progress is not None:
            with self._renders_lock:
                self._renders[self.stream_key(job)] = progress
                while len(self._renders) > PLAN_CACHE:
                    self._renders.popitem(last=False)
        return lines

    def _render(self, job: ExportJob, progress: RenderProgress) -> Lines:
        """The rows drawn and rendered: by the helpers for a big world, else in this process."""
        return self.render_workers.lines(job.with_lagging(), self.spool.scratch_dir(), progress)

    # ------------------------------------------------------------ lifetime

    def ahead(self, world: World) -> None:
        """A big world with render helpers: start them, and render the world's plain project export
        (``project.export()``, the likely first request) into a template before any client asks."""
        if not self.render_workers.used_for(world):
            return
        self.render_workers.warm()
        plain = ExportJob("ahead", RESULT, world, ExportParams(), ExportFilters(),
                          ExportScope(project_id=world.project.id), TEMPLATE_URLS)
        self.templates.build_ahead(plain, self._render)

    def forget(self) -> None:
        """Drop this worker's plans (another world is served: no stream of the last one is asked again)."""
        self.spool.forget()
        with self._renders_lock:
            self._renders.clear()

    def close(self) -> None:
        """Stop the helpers and a template built ahead; streams on disk stay for other workers."""
        self.templates.close()
        self.render_workers.close()

    # ------------------------------------------------------------ DICOM volumes

    def cached_volume(self, key: str) -> BinaryIO | None:
        """The DICOM file kept under ``key``, open (the caller closes it), or None."""
        return self.volumes.open(key)

    def keep_volume(self, key: str, chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
        """``chunks`` (a whole DICOM file) as they come, kept under ``key`` once the last one is out."""
        return self.volumes.write_through(key, chunks, size)
