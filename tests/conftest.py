"""Settings every test under tests/ shares."""

from hypothesis import settings

# No Hypothesis deadline: a deadline is a timed assertion, and on a loaded machine (CI shares two
# cores) drawing a world with several projects can take longer than 200 ms without anything being
# wrong.  Performance is measured by benchmarks/run.py instead.
settings.register_profile("lbmock-tests", deadline=None)
settings.load_profile("lbmock-tests")
