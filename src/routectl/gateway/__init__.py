"""The routectl gateway: an OpenAI-compatible data plane driven by the stored policy.

``create_app`` (:mod:`routectl.gateway.app`) builds the ASGI app; ``routectl
gateway serve`` runs it under uvicorn. The decision log format is documented in
:mod:`routectl.gateway.decisionlog`.
"""
