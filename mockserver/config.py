"""How a mock server behaves, apart from the world it serves: one small dataclass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lbmock.mockserver.backend.state_manager import Transition

DEFAULT_FILE_BYTES = 256 * 1024  # target size of one export file: big exports span several


@dataclass(frozen=True)
class ServerConfig:
    """Options of one mock server (``lbmock serve`` flags, ``MockLabelbox(**options)``)."""

    api_key: str | None = None  # accept only this key (None: any non-empty key)
    # the server's state-manager defaults, by model ("export-task", "legacy-export"); absent: built in
    transitions: Mapping[str, Transition] = field(default_factory=dict)
    file_bytes: int = DEFAULT_FILE_BYTES
    user_timezone: str = "UTC"  # export date filters are evaluated in it
    signing_key: bytes | None = None  # of signed file URLs (None: the state's, random when it is new)
    state_path: str | None = None  # SQLite file shared by workers (None: private, in memory)
    spool_dir: str | None = None  # rendered export streams (None: next to the state file, or private)
    admin: bool = True  # serve the /_mock/ control API (health always)
    public_url: str | None = None  # base of served links (None: the URL each request arrived at)
    announce_unmatched: bool = False  # print each distinct unmatched request once on stderr (lbmock serve)
    # helper processes rendering big exports (0: none; ``lbmock serve`` asks one per core).  Off by
    # default in-process: spawned helpers import the host's __main__ afresh
    render_processes: int = 0
    # where export templates are kept across server runs, shared by every server using the same
    # directory (``lbmock serve`` defaults to ~/.cache/lbmock/templates); None: with the spool only
    template_cache: str | None = None
    # Who may reach the server (docs/security.md): the address it listens on (a loopback bind also
    # Host-checks the emulated API, against DNS rebinding), more Host names for /_mock/ and the
    # API (``--allow-host``), and a token every /_mock/ route asks for (``--admin-token``)
    bind_host: str = "127.0.0.1"
    allow_hosts: tuple[str, ...] = ()
    admin_token: str | None = None
    # Labelbox's limits page (docs.labelbox.com/docs/limits, "Export"): at most 10 running exports in a
    # project and 20 in an organization, on every plan; the next is refused (OPERATION_NOT_ALLOWED).
    # Server options, not world options: they are the platform's, and no export's bytes depend on them
    running_exports_per_project: int = 10
    running_exports_per_organization: int = 20
