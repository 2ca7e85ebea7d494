"""The medical vocabulary worlds draw their names from.

A DICOM project segments anatomy ("Liver", "Left kidney") and traces findings
("Lesion", "Nodule"); its questions are the ones a radiologist answers.  The
terms ship as ``medical_vocabulary.json`` (package data, like the Faker
pools); strategies *sample* from them, so Hypothesis stays in charge of every
choice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

VOCABULARY_FILE = Path(__file__).with_name("medical_vocabulary.json")


@dataclass(frozen=True, slots=True)
class Question:
    """A classification question template: its name, kind and option names."""

    name: str
    kind: str  # radio, checklist or text
    options: tuple[str, ...]


@lru_cache(maxsize=1)
def _vocabulary() -> dict:
    return json.loads(VOCABULARY_FILE.read_text())


@lru_cache(maxsize=1)
def structures() -> tuple[str, ...]:
    """Anatomy a segmentation-mask tool outlines."""
    return tuple(_vocabulary()["structures"])


@lru_cache(maxsize=1)
def findings() -> tuple[str, ...]:
    """Findings a polyline or mask tool marks."""
    return tuple(_vocabulary()["findings"])


@lru_cache(maxsize=3)
def questions(scope: str) -> tuple[Question, ...]:
    """Question templates of a scope: ``global``, ``frame`` or ``object``."""
    return tuple(Question(q["name"], q["kind"], tuple(q["options"])) for q in _vocabulary()["questions"][scope])


@lru_cache(maxsize=1)
def dataset_names() -> tuple[str, ...]:
    """Imaging series collections a dataset is named after."""
    return tuple(_vocabulary()["datasets"])


@lru_cache(maxsize=1)
def project_titles() -> tuple[str, ...]:
    return tuple(_vocabulary()["projects"])


@lru_cache(maxsize=1)
def series_words() -> tuple[str, ...]:
    """Words of series descriptions: file names, tags."""
    return tuple(_vocabulary()["series"])


@lru_cache(maxsize=1)
def phrases() -> tuple[str, ...]:
    """Short report phrases: free-text answers and raw-text attachments."""
    return tuple(_vocabulary()["phrases"])


def value_of(name: str) -> str:
    """A Labelbox ``value`` for a display name: lower case, words joined by ``_``."""
    return "_".join(name.lower().replace("-", " ").split())


@lru_cache(maxsize=1024)  # asked for every drawn row, of a handful of dataset names
def modality_of(dataset_name: str) -> str | None:
    """The DICOM modality a dataset's name announces ("CT abdomen", "PET-CT whole body": CT;
    "MR brain": MR), or None for a name that announces none."""
    words = dataset_name.replace("-", " ").split()
    for modality in ("MR", "CT"):
        if modality in words[:2]:
            return modality
    return None


@lru_cache(maxsize=4096)  # asked for every drawn row, of dataset names and report phrases
@lru_cache(maxsize=4096)  # a row's folder is its dataset's slug: a few names, met once a row
def slug_of(name: str) -> str:
    """A path-friendly form of a display name: lower case, words joined by ``-``."""
    return "-".join(name.lower().replace("_", " ").split())
