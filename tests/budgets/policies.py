"""Policy text shared by the budget tests."""

from __future__ import annotations

PRICED = """
apiVersion: routectl.dev/v1
kind: Tier
metadata: {name: premium}
spec: {rank: 2}
---
apiVersion: routectl.dev/v1
kind: Tier
metadata: {name: lightweight}
spec: {rank: 1}
---
apiVersion: routectl.dev/v1
kind: Provider
metadata: {name: p}
spec: {baseUrl: "http://127.0.0.1:9/v1", jurisdiction: DE}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: big}
spec:
  provider: p
  upstreamModel: big
  tier: premium
  contextWindow: 200000
  maxOutputTokens: 8000
  pricing: {input: 3.0, output: 15.0}
---
apiVersion: routectl.dev/v1
kind: Model
metadata: {name: small}
spec:
  provider: p
  upstreamModel: small
  tier: lightweight
  contextWindow: 32000
  maxOutputTokens: 4000
  pricing: {input: 0.1, output: 0.4}
"""
