"""The backend: the world served, who may call, lookups, and the export tasks and legacy
exports clients create (``tasks.py``, ``legacy.py``), their progress (``state_manager.py``),
faults, the journal and URL signing; the bytes of exports come from its export pipeline
(``lbmock.mockserver.exports.pipeline``).

Pure Python, no Flask: the HTTP layer (``lbmock.mockserver.handlers``) and the pytest plugin
drive the same :class:`MockBackend`, through its methods (never through its parts).  Building
one starts nothing: :meth:`MockBackend.start` and :meth:`MockBackend.close` do.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import os
import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import BinaryIO

import orjson

from lbmock.export import ExportFilters, ExportScope, LegacyWindow, legacy_array_chunks
from lbmock.hostile import hostile_row, hostile_world
from lbmock.ids import base36
from lbmock.mockserver.backend.faults import ActiveFault, Fault, FaultBook, taken_fault
from lbmock.mockserver.backend.journal import Journal
from lbmock.mockserver.backend.legacy import LegacyExport
from lbmock.mockserver.backend.signing import UrlSigner
from lbmock.mockserver.backend.state import is_database_url, open_state
from lbmock.mockserver.backend.state_manager import EXPORT_TASK, LEGACY_EXPORT, StateManager, Transition
from lbmock.mockserver.backend.store import Store, TakenFault, UnfinishedTask
from lbmock.mockserver.backend.stubs import StubBook
from lbmock.mockserver.backend.tasks import RESULT, ExportTask, export_file_path
from lbmock.mockserver.config import ServerConfig
from lbmock.mockserver.errors import NotAllowed, NotFound
from lbmock.mockserver.exports.job import ExportJob
from lbmock.mockserver.exports.keys import world_key
from lbmock.mockserver.exports.pipeline import ExportPipeline
from lbmock.mockserver.exports.progress import ProgressView
from lbmock.mockserver.exports.spool import PLAN_CACHE, StreamPlan
from lbmock.render.common import Urls, dicom_file_name
from lbmock.render.v2 import ExportParams
from lbmock.strategies.served_world import resolve_world
from lbmock.world import DataRow, Feature, Label, World
from lbmock.world_spec import WorldSpec

__all__ = ["MockBackend", "issue_login_code", "key_owner"]


# The faults an export task carries, in the order they are used.
TASK_FAULTS = (Fault.EXPORT_FAILS, Fault.EXPORT_ERRORS, Fault.SLOW_TASK, Fault.STUCK_TASK, Fault.INDEX_LAG)


@functools.lru_cache(maxsize=64)  # asked at every request (journal, task lookups), for a few keys
def key_owner(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


class MockBackend:
    """Everything the mock serves, for one world."""

    def __init__(self, world: World, config: ServerConfig | None = None) -> None:
        self.config = config = config or ServerConfig()
        self.world = world  # what is served now: base_world, with hostile strings while hostile-content is set
        self.base_world = world  # the world the shared state names
        self.origin_world = world  # what /_mock/reset returns to
        self._hostile = False
        self.state = open_state(config.state_path)
        self.faults = FaultBook(self.state)
        self.journal = Journal(self.state)
        self.state_manager = StateManager(self.state, config.transitions)
        self.stubs = StubBook()  # per backend, in this process (backend/stubs.py)
        self.api_key = config.api_key
        self.file_bytes = config.file_bytes
        # The signing key lives with the state: every worker, and a restart on the same state file,
        # signs and verifies with it, so URLs handed out before a restart stay valid.
        self.signer = UrlSigner(config.signing_key or self.state.setting("signing_key", secrets.token_bytes(32)))
        self.user_timezone = config.user_timezone
        self._world_version = 0
        # Rendered export streams: next to a shared state file (so workers share them), else private
        # (with a database, each host renders its own: the bytes are the same everywhere).
        spool_dir = config.spool_dir
        if spool_dir is None and config.state_path is not None and not is_database_url(config.state_path):
            spool_dir = os.path.join(os.path.dirname(os.path.abspath(config.state_path)), "spool")
        self.exports = ExportPipeline(spool_dir, config.file_bytes, config.render_processes, config.template_cache)
        self._jobs: OrderedDict[str, ExportJob] = OrderedDict()  # the jobs of streams planned here (see _job)
        self._tasks: OrderedDict[str, ExportTask] = OrderedDict()  # tasks rebuilt from their specs (task_by_id)
        self._started = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------ lifetime

    def start(self) -> MockBackend:
        """Start background work: for a big world, the render helpers and its likely first export
        (a template built ahead).  Idempotent; anything started lazily later stops at :meth:`close`."""
        if not self._started:
            self._started = True
            self.exports.ahead(self.base_world)
        return self

    def close(self) -> None:
        """Stop background work (render helpers, a template built ahead).  The shared state, the
        journal's writer and the streams on disk stay: other workers and backends use them."""
        self._started = False
        self.exports.close()

    # ------------------------------------------------------------ mock control

    def sync(self) -> None:
        """Serve the world the shared state names (another worker may have loaded one)."""
        spec, version = self.state.world()
        hostile = self.faults.any_active() and self.faults.is_active(Fault.HOSTILE_CONTENT)  # (the first: hot)
        if version == self._world_version and hostile == self._hostile:
            return
        with self._lock:
            if version != self._world_version:
                if spec is None:
                    self.base_world = self.origin_world
                else:
                    self.base_world = resolve_world(WorldSpec.from_json(spec))
                    if self._started:
                        self.exports.ahead(self.base_world)
                self.exports.forget()
                self._jobs.clear()
                self._world_version = version
            self._hostile = hostile
            self.world = self.view(hostile)

    def view(self, hostile: bool) -> World:
        """The served world, with hostile row strings or as the state names it (fault hostile-content)."""
        return hostile_world(self.base_world) if hostile else self.base_world

    def reset(self) -> None:
        """Back to the world the mock started with: no tasks, faults, transitions, stubs or journal."""
        self.state.set_world(None)
        self.faults.clear()
        self.state_manager.clear()
        self.journal.clear()
        self.stubs.clear()
        self.sync()

    def load_world(self, spec: WorldSpec) -> World:
        """Serve the world ``spec`` names from now on, in every worker."""
        self.state.set_world(spec.to_json())
        self.sync()
        return self.world

    # ------------------------------------------------------------ auth

    def first_unmatched(self, reason: str) -> bool:
        """Whether no worker met an unmatched request for ``reason`` before (and remember it)."""
        return self.state.first_unmatched(reason)

    def issue_login_code(self) -> str:
        """A fresh one-time code for the dashboard's login link (``--admin-token``); the last one
        issued is the only one valid, in every worker."""
        return issue_login_code(self.state)

    def use_login_code(self, code: str) -> bool:
        """Whether ``code`` is the login code issued last, unused (it is used up now)."""
        return self.state.take_setting(LOGIN_CODE, code.encode("utf-8", "surrogateescape"))

    def accepts_key(self, api_key: str | None) -> bool:
        if not api_key or self.faults.take(Fault.AUTH_REVOKED):
            return False
        return self.api_key is None or hmac.compare_digest(api_key.encode(), self.api_key.encode())

    def verify_signature(self, path: str, expires: str | None, signature: str | None) -> None:
        """Accept a signed URL (``SignatureError`` if it is malformed, tampered with or expired)."""
        self.signer.verify(path, expires, signature)

    def sign(self, path: str) -> str:
        """``path`` with the query that authorises it for the signer's TTL from now."""
        return self.signer.sign(path)

    def take_fault(self, fault: Fault) -> ActiveFault | None:
        """Fault ``fault`` if it is in force, counting one use of it (see ``FaultBook.take``)."""
        return self.faults.take(fault)

    def any_fault(self) -> bool:
        """Whether any fault is in force (the download fast path steps aside if so)."""
        return self.faults.any_active()

    # ------------------------------------------------------------ lookups

    def row_for_id(self, entity_id: str) -> DataRow:
        index = self.world.index_of(entity_id)
        if index is None:
            raise NotFound(entity_id)
        return self.world.row(index)

    def label(self, label_id: str) -> tuple[DataRow, Label]:
        row = self.row_for_id(label_id)
        label = row.label(label_id)
        if label is None:
            raise NotFound(label_id)
        return row, label

    def mask_feature(self, feature_id: str, project_id: str | None = None) -> tuple[DataRow, Feature]:
        """The mask feature (of any project's label; of ``project_id``'s labels when given)."""
        row = self.row_for_id(feature_id)
        if project_id is None:
            labels = row.all_labels
        else:
            membership = row.in_project(project_id)
            labels = membership.labels if membership is not None else ()
        for label in labels:
            feature = label.feature(feature_id)
            if feature is not None:
                if feature.tool.kind != "mask":
                    raise NotFound(feature_id)
                return row, feature
        raise NotFound(feature_id)

    # ------------------------------------------------------------ export v2 tasks

    def create_export(self, api_key: str, params: ExportParams, filters: ExportFilters, urls: Urls,
                      name: str | None, streamable: bool, now_ms: int,
                      scope: ExportScope | None = None) -> ExportTask:
        """A new export task (``scope`` None: of the world's first project); :class:`NotAllowed` when
        its project or the organization already runs as many exports as the limits allow.  The count
        and the creation are one store transaction, which creations take one at a time in every
        worker and host (``Store.create_task``): concurrent creations never pass a limit together."""
        limit = self.faults.take(Fault.EXPORT_LIMIT)  # used by a refused export too (outside the transaction)
        task = ExportTask(
            id=_new_id(), owner_key=key_owner(api_key), name=name, params=params, filters=filters, urls=urls,
            created_at=now_ms, streamable=streamable, scope=scope,
            transition=self.state_manager.get_transition(EXPORT_TASK))
        task.hostile = self._hostile  # its rows keep the strings they were exported with
        made = task.transition

        def admitted(unfinished: list[UnfinishedTask], take: Callable[[str], TakenFault | None]) -> dict:
            """The task's spec if the limits admit it; the faults it carries are used only then (each
            set afresh: a transaction retried after a lost connection runs this again)."""
            self._check_running_exports(scope, limit, _running(unfinished))
            failed, errors, slow, stuck, lag = (taken_fault(f, take(f.value)) for f in TASK_FAULTS)
            task.failed = failed is not None
            task.error_every = (errors.arg or 3) if errors else None  # rows with index % n == n - 1 fail
            # stuck: never COMPLETE (unless advanced by hand); slow: a manual transition for this task
            task.transition = Transition.never() if stuck else Transition.manual(slow.arg or 3) if slow else made
            task.lag_rows = (lag.arg2 or 1) if lag else None
            return task.spec()

        self.state.create_task(task.id, task.owner_key, admitted)
        return task

    def running_exports(self) -> list[ExportTask]:
        """Every client's export tasks still IN_PROGRESS (per the state manager's transitions, as of
        their last status read): the organization's running exports."""
        return _running(self.state.unfinished_tasks())

    def _check_running_exports(self, scope: ExportScope | None, fault: ActiveFault | None,
                               running: list[ExportTask]) -> None:
        """Labelbox's export limits (limits page: 10 running exports per project, 20 per organization;
        ServerConfig, or fault export-limit's argument): the error shape is not public, so the refusal is
        OPERATION_NOT_ALLOWED, which the SDK raises as OperationNotAllowedException ("Raised when user
        ... has exceeded usage limit")."""
        per_project = self.config.running_exports_per_project if fault is None else fault.arg or 0
        per_organization = self.config.running_exports_per_organization if fault is None else fault.arg or 0
        project_id = self._project_of(scope)
        if project_id is not None:
            in_project = sum(1 for t in running if self._project_of(t.scope) == project_id)
            if in_project >= per_project:
                raise NotAllowed(f"Export limit reached: project {project_id} has {in_project} running exports, "
                                 f"at most {per_project} may run at once (Labelbox: 10 per project, 20 per "
                                 "organization); wait until one is COMPLETE or FAILED, then export again")
        if len(running) >= per_organization:
            raise NotAllowed(f"Export limit reached: the organization has {len(running)} running exports, at most "
                             f"{per_organization} may run at once (Labelbox: 10 per project, 20 per organization); "
                             "wait until one is COMPLETE or FAILED, then export again")

    def _project_of(self, scope: ExportScope | None) -> str | None:
        """The project an export runs in (None: a catalog-side export, which counts for the organization)."""
        if scope is None:
            return self.world.project.id
        return scope.project_id

    def task_by_id(self, task_id: str) -> ExportTask:
        """Any client's task (signed file URLs carry no key: the signature vouches)."""
        record = self.state.get_task(task_id)
        if record is None:
            raise NotFound(task_id)
        owner, spec, reads, advanced = record
        # A task's spec is written once: rebuild it once per process (a task is asked for at every
        # query of the SDK's walk), and take what changes (reads, advanced) from the record.
        with self._lock:
            built = self._tasks.get(task_id)
        if built is None or built.owner_key != owner:
            built = ExportTask.from_spec(task_id, owner, spec, reads, advanced)
            with self._lock:
                self._tasks[task_id] = built
                while len(self._tasks) > PLAN_CACHE:
                    self._tasks.popitem(last=False)
        task = copy.copy(built)
        task.reads, task.advanced = reads, advanced
        return task

    def task(self, api_key: str, task_id: str) -> ExportTask:
        task = self.task_by_id(task_id)
        if task.owner_key != key_owner(api_key):  # tasks are per client
            raise NotFound(task_id)
        return task

    def tasks_of(self, api_key: str) -> list[ExportTask]:
        owner = key_owner(api_key)
        return [self.task_by_id(t) for t in self.state.task_ids_of(owner)]

    def recent_tasks(self, limit: int | None = None) -> list[ExportTask]:
        """Every client's export tasks, newest first, at most ``limit`` (the dashboard; clients see only their own)."""
        return [self.task_by_id(t) for t in self.state.recent_task_ids(limit)]

    def note_refresh(self, task: ExportTask) -> None:
        """A client read the task's status (the SDK's poll): manual transitions advance per read."""
        self.state.bump_refresh(task.id)
        task.reads += 1

    def task_progress(self, task: ExportTask) -> tuple[str, float]:
        """(status, completion percentage).  The status is the transition's alone; while IN_PROGRESS,
        the percentage is the share of the task's rows rendered when a render of them runs in this
        process (a big world's plain export is rendered ahead), else the transition's."""
        status, percent = task.progress()
        if status == "IN_PROGRESS":
            rendering = self.render_progress(task)
            fraction = None if rendering is None else rendering.fraction()
            if fraction is not None:
                percent = round(min(fraction, 0.99) * 100, 1)
        return status, percent

    def render_progress(self, task: ExportTask) -> ProgressView | None:
        """How far the render of the task's RESULT stream has got in this process (another worker's
        render is not seen here), or None if none ran or runs (see ``ExportPipeline.progress``)."""
        return self.exports.progress(self.job(task, RESULT))

    def advance_task(self, task_id: str, fail: bool = False) -> ExportTask:
        """Move a task on by hand: COMPLETE, or FAILED with ``fail``."""
        if not self.state.advance_task(task_id, "FAILED" if fail else "COMPLETE"):
            raise NotFound(task_id)
        return self.task_by_id(task_id)

    def job(self, task: ExportTask, stream: str) -> ExportJob:
        """What decides the bytes of a task's stream, its faults and signatures settled: the world
        it was created under (hostile or not, even if another is loaded while rendering), its rows'
        failures and lag, row_data signed as of its creation (every worker renders the same bytes)."""
        return task.job(stream, self.view(task.hostile), self.signed_urls(task.urls, task.created_at))

    def plan(self, task: ExportTask, stream: str) -> StreamPlan | None:
        """The file plan of a stream, rendered the first time; ``None`` for an empty stream (the API's null header)."""
        return self.exports.plan(self._job(task.id, stream, task))

    def planned(self, task: ExportTask, stream: str) -> StreamPlan | None:
        """The stream's file plan if it was rendered already (an empty stream: no files), else None;
        never renders (that is the first header read's job)."""
        return self.exports.rendered(self.job(task, stream))

    def export_file_url(self, base: str, task_id: str, stream: str, index: int | str) -> str:
        """The signed link of one export file, as the SDK receives it (valid for the signer's TTL)."""
        return base + self.signer.sign(export_file_path(task_id, stream, index))

    def task_exists(self, task_id: str) -> bool:
        return self.state.has_task(task_id)

    def _job(self, task_id: str, stream: str, task: ExportTask | None = None) -> ExportJob:
        """The job of a task's stream.  Downloads and the SDK's per-file queries are most of a
        client's requests: once this worker has the stream's plan, the job it planned with is
        reused, and only the task's existence is looked up (not its whole record; nothing when the
        caller has just read ``task``)."""
        name = f"{task_id}-{stream}"
        with self._lock:
            job = self._jobs.get(name)
        if job is not None and self.exports.knows(job) and (task is not None or self.state.has_task(task_id)):
            return job
        try:
            job = self.job(task if task is not None else self.task_by_id(task_id), stream)
        except NotFound:
            raise NotFound(f"unknown export task {task_id}") from None
        with self._lock:
            self._jobs[name] = job
            while len(self._jobs) > PLAN_CACHE:  # as many as the spool keeps plans
                self._jobs.popitem(last=False)
        return job

    def open_export_file(self, task_id: str, stream: str, index: int | None = None) -> tuple[BinaryIO, int] | None:
        """Export file ``index`` of a task's stream (``None``: the whole stream): the spooled stream
        opened at the file's first byte, and the file's length; ``None`` for an empty stream;
        NotFound for an unknown task or past the last file (see ``ExportPipeline.open``)."""
        return self.exports.open(self._job(task_id, stream), index)

    # ------------------------------------------------------------ legacy export_labels

    def legacy_export(self, api_key: str, window: LegacyWindow, urls: Urls,
                      project_id: str | None = None) -> LegacyExport:
        """The legacy export for this client, project and window; each call counts as one poll."""
        fresh = LegacyExport(_new_id(), window, urls, self.state_manager.get_transition(LEGACY_EXPORT),
                             project_id=project_id)
        key = f"{key_owner(api_key)}:{orjson.dumps(fresh.key()).decode()}"
        export_id, spec, polls = self.state.legacy_poll(key, fresh.id, fresh.spec())
        return LegacyExport.from_spec(export_id, spec, polls)

    def legacy_ready(self, export: LegacyExport) -> bool:
        if self.faults.take(Fault.LEGACY_NEVER_READY):
            return False
        return export.ready()

    def legacy_by_id(self, export_id: str) -> LegacyExport:
        spec = self.state.get_legacy(export_id)
        if spec is None:
            raise NotFound(export_id)
        return LegacyExport.from_spec(export_id, spec)

    def legacy_bytes(self, export: LegacyExport) -> Iterator[bytes]:
        world = self.world
        project = world.project_by_id(export.project_id) if export.project_id else world.project
        if project is None:
            raise NotFound(f"project {export.project_id}")
        rows = (world.row(i) for i in range(len(world)) if world.in_project_at(project.id, i))
        return legacy_array_chunks(project, rows, export.window,
                                   self.signed_urls(export.urls, int(export.started * 1000)))

    # ------------------------------------------------------------ DICOM files (row_data)

    def signed_urls(self, urls: Urls, at_ms: int) -> Urls:
        """``urls`` whose storage links (row_data) are signed as of ``at_ms``.

        An export signs as of its creation, not of the request, so every worker
        renders a task's rows with identical bytes.
        """
        return replace(urls, sign=functools.partial(self.signer.sign, now=at_ms / 1000))

    def volume_key(self, file_name: str) -> str | None:
        """The volume cache's key of a DICOM file of the world served now (workers agree on it):
        the whole world and lbmock's code (``exports/keys.py``), and the file; None: not cached."""
        world = world_key(self.world)
        if world is None:
            return None
        # hashed: the name holds the external id, which may be long or hold anything but '/'
        return f"{world}-{hashlib.sha256(file_name.encode()).hexdigest()[:32]}"

    def cached_dicom(self, file_name: str) -> BinaryIO | None:
        """The DICOM file ``file_name`` of the world served now, from disk if it was kept, else None."""
        key = self.volume_key(file_name)
        return None if key is None else self.exports.cached_volume(key)

    def keep_dicom(self, file_name: str, chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
        """``chunks`` (the whole DICOM file ``file_name``) as they come, kept on disk as they go."""
        key = self.volume_key(file_name)
        return chunks if key is None else self.exports.keep_volume(key, chunks, size)

    def dicom_row(self, org_id: str, file_name: str) -> DataRow:
        """The data row whose DICOM file is ``<org_id>/<file_name>`` (see ``dicom_file_name``)."""
        if org_id != self.world.project.organization.id:
            raise NotFound(org_id)
        row = self.row_for_id(file_name[:25])  # a row id is 25 characters
        if file_name != dicom_file_name(row) and file_name != dicom_file_name(hostile_row(row)):
            raise NotFound(file_name)  # (an export made under hostile-content keeps its links)
        return row


LOGIN_CODE = "dashboard_login_code"


def issue_login_code(state: Store) -> str:
    """A fresh one-time dashboard login code, stored in ``state`` (see ``MockBackend.issue_login_code``)."""
    code = secrets.token_urlsafe(24)
    state.put_setting(LOGIN_CODE, code.encode())
    return code


def _running(unfinished: list[UnfinishedTask]) -> list[ExportTask]:
    """The tasks still IN_PROGRESS (per their transitions, as of their last status read) of those that may run."""
    tasks = (ExportTask.from_spec(task_id, owner, spec, reads, advanced)
             for task_id, owner, spec, reads, advanced in unfinished)
    return [t for t in tasks if t.progress()[0] == "IN_PROGRESS"]


def _new_id() -> str:
    """Task ids: Labelbox-shaped, random (tasks are not part of the seeded world)."""
    return "c" + base36(uuid.uuid4().int % 36**24, 24)
