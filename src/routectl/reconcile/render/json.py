"""The JSON rendering of a plan: the versioned plan document itself (docs/reconcile.md)."""

from __future__ import annotations

import json

from routectl.reconcile.plan import PlanDoc


def plan_json(plan: PlanDoc) -> str:
    return json.dumps(plan.document(), indent=2, ensure_ascii=False)
