"""The two real plans beside the project (../shared): tests that need them skip with a reason
when they are absent, as in a newcomer's clone; everything else runs on the sample plan the
project ships and fixtures the tests write."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
PLANS = SHARED / "plans"
DEV_SET = SHARED / "eval" / "qa_dev.jsonl"
HERE = PLANS.is_dir()

needs_real_plans = pytest.mark.skipif(
    not HERE, reason="the real plans (../shared/plans) are not beside the project")
