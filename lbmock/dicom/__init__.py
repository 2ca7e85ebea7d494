"""The DICOM series behind each data row: its model (:mod:`.series`), geometry
(:mod:`.geometry`), phantom pixels (:mod:`.phantom`) and Part 10 writer (:mod:`.part10`).

Import the submodules directly; this package imports nothing heavy itself.
"""
