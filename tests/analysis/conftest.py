from pathlib import Path

import pytest

REFDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "refdata"


@pytest.fixture
def refdata() -> Path:
    if not REFDATA.is_dir():
        pytest.skip("reference data ../shared/refdata not found (a user's clone); CI requires it")
    return REFDATA
