"""The export pipeline: from an :class:`~lbmock.mockserver.exports.job.ExportJob` (what decides a
stream's bytes) to byte ranges of a file on disk.

``pipeline.py`` is the way in and reads top to bottom; ``templates.py`` (rows rendered once per
world and export), ``render_workers.py`` (helper processes), ``spool.py`` (streams on disk, file
plans) and ``volume_cache.py`` (DICOM files) are its parts.  Nothing here knows about tasks,
faults or HTTP.
"""
