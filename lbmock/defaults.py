"""The default world every entry point serves: ``WorldSpec()``'s seed and rows.

A module of its own, importing nothing, so the pytest plugin states them in ``pytest --help``
without importing the world model at every pytest start (``WorldSpec`` takes its field defaults
from here; ``lbmock serve``/``generate``, ``mock_labelbox``, ``ThreadedMockServer``, the fixtures and
the ``lb_world`` marker all read them through ``WorldSpec``).

Seed 0 with 100 rows: what ``lbmock serve`` always served, and a world holding everything the
contract suite checks (polylines, masks, questions, labelled and unlabelled rows in every status),
so the plugin's fixtures run it without a skip (tests/test_packaging.py).
"""

SEED = 0
ROWS = 100
