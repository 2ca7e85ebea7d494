"""Check Labelbox DICOM export files against the real API's contract.

``lbmock validate FILE`` (see :func:`validate_path`) reads an export v2 NDJSON
file, a legacy ``export_labels`` JSON array, or an NDJSON file of per-frame
records, and checks every row twice:

* against the JSON Schemas in ``fixtures/schemas`` (loaded with
  :func:`schema` / :func:`validator`, which other code reuses), and
* against the invariants a schema cannot express: segment ranges run
  forwards and cover every frame of their feature, ``key_frame_feature_map``
  names exactly the features that have frames, a feature lives on one plane,
  ids that must be unique are, legacy group planes are distinct and their
  frames URLs name the label.

NDJSON is streamed in 1 MB pieces (checked in ``jobs`` processes if asked); a
legacy array is loaded whole (with orjson).  A compiled validator (jsonschema-rs,
:func:`fast_validator`) passes or fails each row first; jsonschema explains only
the rows it fails, so the messages are jsonschema's.

Modules: ``schemas`` (loading, validators), ``explanations`` (violations,
schema errors in plain words), ``invariants`` (rules beyond the schemas),
``files`` (reading files, :func:`validate_path`).
"""

from lbmock.validate.explanations import Violation, explain_schema_errors, json_path, schema_violations
from lbmock.validate.files import EXIT_OK, EXIT_UNREADABLE, EXIT_VIOLATIONS, UnreadableInput, validate_path
from lbmock.validate.invariants import (
    FileChecker,
    frame_record_invariants,
    legacy_invariants,
    row_key,
    v2_invariants,
    validate_row,
)
from lbmock.validate.schemas import FORMATS, SCHEMA_NAMES, fast_validator, schema, validator

__all__ = [
    "EXIT_OK",
    "EXIT_UNREADABLE",
    "EXIT_VIOLATIONS",
    "FORMATS",
    "SCHEMA_NAMES",
    "FileChecker",
    "UnreadableInput",
    "Violation",
    "explain_schema_errors",
    "fast_validator",
    "frame_record_invariants",
    "json_path",
    "legacy_invariants",
    "row_key",
    "schema",
    "schema_violations",
    "v2_invariants",
    "validate_path",
    "validate_row",
    "validator",
]
