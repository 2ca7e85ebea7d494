"""The backend: the world served, who may call, export tasks and legacy exports, faults, the
request journal, URL signing and the SQLite store every worker shares.

:class:`~lbmock.mockserver.backend.backend.MockBackend` is the one object handlers talk to;
the rest of this folder are its parts.  It renders nothing itself: export bytes come from
``lbmock.mockserver.exports``.
"""
