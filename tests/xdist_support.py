"""tox runs `pytest -n 2 --dist loadgroup`: the tests that share an expensive session fixture run on
one worker, so no worker builds it again or sits idle on another's build."""

from __future__ import annotations

import pytest

# Session fixtures whose readers are grouped by the fixture itself, wherever the test lives; the
# module-level groups (`trained_sac`, `quick_store`) are marked in their test files.
SHARED_FIXTURES = ("results_store",)  # the analysis store: one to two minutes to build


@pytest.hookimpl(tryfirst=True)  # before xdist's worker turns the groups into work units
def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture in SHARED_FIXTURES:
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(fixture))
