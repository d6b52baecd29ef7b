"""Strategy ``cascade``: try the route's models in order, escalating on a poor answer.

The decision's chain (the cascade's eligible models in order, then the
fallback chain) is walked one model at a time. Transport failures fail over as
on any route (the route's ``fallback.triggers``); a 200 answer is checked against the
route's declared signals, and the first that fires sends the request to the
next model:

- ``truncated``: a choice's ``finish_reason`` is ``length``;
- ``refusal``: a pattern matches the answer's text;
- ``json`` / ``jsonSchema``: the text is not a JSON document, or not valid
  against the schema;
- ``judge``: a declared Model, asked to score the answer from 0 to 1 (with
  structured output), scores it below the threshold; its calls are counted.

The last model's answer goes back whatever its checks say (there is nothing
left to escalate to); the decision log's ``cascade`` records every step and
its verdict, and ``cost`` counts every call (steps, judge, classifier).

Streaming: a cascade cannot judge an answer before it is complete, so each
step is asked without streaming, and a client that asked for a stream gets
the accepted answer as one SSE content chunk (then ``finish_reason``, usage
and ``[DONE]``): the final answer only, never a rejected step's text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import aiohttp
import jsonschema
import orjson
from starlette.responses import Response

from routectl.core.detect import IntentMatch
from routectl.core.evaluator import needs_semantic
from routectl.core.policy import AnswerChecksInfo, CascadeInfo, Policy
from routectl.core.request import Request
from routectl.gateway.breaker import Breakers
from routectl.gateway.limits import Limits
from routectl.gateway.runtime import Runtime, Upstream
from routectl.gateway.upstream import Answer, send_chain

if TYPE_CHECKING:
    from routectl.gateway.chat import Exchange

JUDGE_INSTRUCTIONS = (
    "You grade an assistant's answer to a user's request. Score from 0 (useless, wrong, "
    "refused or incomplete) to 1 (fully correct and complete). Answer only with JSON: "
    '{"score": <0..1>}.'
)
JUDGE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "grade",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"score": {"type": "number", "minimum": 0, "maximum": 1}},
            "required": ["score"],
            "additionalProperties": False,
        },
    },
}


@dataclass
class CascadeResult:
    answer: Answer
    steps: list[dict[str, Any]] = field(default_factory=list)
    extra_cost: float = 0.0  # rejected steps and judge calls, on top of the answering model's


def answer_text(completion: Any) -> str | None:
    try:
        content = completion["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


@lru_cache(maxsize=64)
def _validator(schema_text: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_text)
    return jsonschema.validators.validator_for(schema)(schema)


def check_answer(checks: AnswerChecksInfo, completion: Any) -> str | None:
    """Why ``completion`` (an OpenAI chat completion) is not good enough, or None."""
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices:
        return "no choices in the answer"
    if checks.truncated and any(
        isinstance(c, dict) and c.get("finish_reason") == "length" for c in choices
    ):
        return "truncated (finish_reason length)"
    text = answer_text(completion)
    if text is None:
        if checks.refusal or checks.json:
            return "no text in the answer"
        return None
    for pattern in checks.refusal:
        if pattern.search(text):
            return f"refusal (matches {pattern.pattern!r})"
    if checks.json:
        try:
            document = json.loads(text)
        except ValueError as exc:
            return f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        if checks.json_schema is not None:
            error = jsonschema.exceptions.best_match(
                _validator(checks.json_schema).iter_errors(document)
            )
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "(root)"
                return f"fails the JSON Schema at {where}: {error.message}"
    return None


def _usage_cost(policy: Policy, model: str, content: bytes) -> tuple[float, Any]:
    try:
        completion = orjson.loads(content)
    except orjson.JSONDecodeError:
        return 0.0, None
    usage = completion.get("usage") if isinstance(completion, dict) else None
    if not isinstance(usage, dict):
        return 0.0, completion
    tokens_in = usage.get("prompt_tokens") if isinstance(usage.get("prompt_tokens"), int) else 0
    tokens_out = (
        usage.get("completion_tokens") if isinstance(usage.get("completion_tokens"), int) else 0
    )
    return policy.models[model].cost(tokens_in, tokens_out), completion


async def _judge(
    client: aiohttp.ClientSession,
    runtime: Runtime,
    breakers: Breakers,
    limits: Limits,
    model: str,
    body: dict[str, Any],
    text: str,
    arrived: float,
) -> tuple[float | None, float, str | None]:
    """(score, cost, problem) of the judge's verdict on ``text``."""
    if model not in runtime.upstreams:  # lint's RT001 names it; the gateway must not fail
        return None, 0.0, f"judge {model} is not a declared model"
    request = "\n".join(
        m.get("content") for m in body.get("messages", []) if isinstance(m.get("content"), str)
    )
    judge_body = {
        "messages": [
            {"role": "system", "content": JUDGE_INSTRUCTIONS},
            {"role": "user", "content": f"Request:\n{request}\n\nAnswer:\n{text}"},
        ],
        "response_format": JUDGE_FORMAT,
        "temperature": 0,
        "max_tokens": 16,
    }
    tokens = len(judge_body["messages"][1]["content"]) // 4 + 16  # as the gateway estimates
    answer = await send_chain(
        client,
        runtime,
        (model,),
        frozenset(),
        judge_body,
        False,
        breakers,
        lambda *_: None,
        limits,
        tokens,
        arrived,
    )
    if answer.upstream is None or answer.status >= 400:
        return None, 0.0, f"judge {model} failed ({answer.status})"
    cost, completion = _usage_cost(runtime.policy, model, answer.content)
    try:
        score = float(json.loads(answer_text(completion) or "")["score"])
    except (ValueError, KeyError, TypeError):
        return None, cost, f"judge {model} answered outside its schema"
    return score, cost, None


async def send_cascade(
    client: aiohttp.ClientSession,
    runtime: Runtime,
    chain: tuple[str, ...],
    triggers: frozenset[str],
    checks: AnswerChecksInfo,
    judge: tuple[str, float] | None,
    body: dict[str, Any],
    breakers: Breakers,
    on_failover: Callable[[Upstream, str], None],
    limits: Limits,
    tokens: int,
    arrived: float,
) -> CascadeResult:
    """Walk ``chain`` until an answer passes ``checks``; else keep the last answer received."""
    body = {**body, "stream": False}
    body.pop("stream_options", None)
    result = CascadeResult(Answer(None, 502, b"", "application/json"))
    attempts: list[Any] = []
    received: tuple[Answer, float, dict[str, Any]] | None = None  # the latest 200 answer
    for model in chain:
        answer = await send_chain(
            client,
            runtime,
            (model,),
            triggers,
            body,
            False,
            breakers,
            on_failover,
            limits,
            tokens,
            arrived,
        )
        attempts.extend(answer.attempts)
        answer.attempts = attempts
        if answer.upstream is None:  # failed over (a transport trigger): the next model
            result.steps.append({"model": model, "verdict": "failed"})
            result.answer = answer
            continue
        if answer.status >= 400:  # not a failover case: as on any route, it ends the walk
            result.steps.append({"model": model, "verdict": "error", "status": answer.status})
            if received is None:
                result.answer = answer
                return result
            break
        cost, completion = _usage_cost(runtime.policy, model, answer.content)
        if received is not None:
            result.extra_cost += received[1]  # the rejected answer was paid for
        step: dict[str, Any] = {"model": model}
        received = (answer, cost, step)
        result.answer = answer
        reason = check_answer(checks, completion)
        if reason is None and judge is not None:
            score, judge_cost, problem = await _judge(
                client,
                runtime,
                breakers,
                limits,
                judge[0],
                body,
                answer_text(completion) or "",
                arrived,
            )
            result.extra_cost += judge_cost
            step["judge_score"] = score
            if problem is not None:
                reason = problem
            elif score is not None and score < judge[1]:
                reason = f"judge {judge[0]} scored {score:.2f} < {judge[1]:.2f}"
        result.steps.append(step)
        if reason is None:
            step["verdict"] = "accepted"
            return result
        step["verdict"] = "escalated"
        step["reason"] = reason
    if received is not None:  # nothing better came: the last answer received goes back
        answer, _, step = received
        answer.attempts = attempts
        result.answer = answer
        step["verdict"] = "kept"
    return result


async def classify_ahead(policy: Policy, features: Request) -> Request:
    """The request with the examples' verdict on its prompt, when detection will ask for it.

    An encoder that calls out (embeddings endpoint, classifying model) runs in
    a thread, off the event loop; the lexical one runs inline (well under a
    millisecond). Either way the evaluator then reads the verdict from the
    request, and the decision log can record it with its cost.
    """
    detector = policy.detector
    if detector is None or not needs_semantic(policy, features):
        return features
    assert features.prompt is not None
    if detector.remote:
        match = await asyncio.to_thread(detector.classify, features.prompt)
    else:
        match = detector.classify(features.prompt)
    return dataclasses.replace(features, detected=match)


def detection_record(match: IntentMatch) -> dict[str, Any]:
    return {
        "encoder": match.encoder,
        "intent": match.intent,
        "nearest": match.nearest,
        "example": match.example,
        "score": match.score,
        "threshold": match.threshold,
        "cost": match.cost,
        "latency_ms": match.latency_ms,
    }


async def answer(ex: Exchange, info: CascadeInfo, body: dict[str, Any], stream: bool) -> Any:
    """The answer of a cascade route to the client, recorded on ``ex``: the final one only."""
    from routectl.gateway.chat import JSON, PlainAnswer, _shadow_charge, error_body

    gw, decision = ex.gw, ex.decision
    assert decision is not None
    route = decision.route or ""
    checks = info.checks
    judge = None
    if checks.judge_model is not None and checks.judge_threshold is not None:
        judge = (checks.judge_model, checks.judge_threshold)
    result = await send_cascade(
        gw.client,
        ex.runtime,
        decision.chain(),
        decision.triggers,
        checks,
        judge,
        body,
        gw.breakers,
        lambda upstream, reason: gw.metrics.failover(route, upstream, reason),
        gw.limits,
        ex.features.input_tokens + ex.features.output_tokens if ex.features else 0,
        ex.arrived,
    )
    shadows = [
        model
        for model in decision.shadows
        if gw.shadows.send(
            ex.runtime.upstreams[model], body, ex.request_id, _shadow_charge(ex, model)
        )
    ]
    answer = result.answer
    ex.extra_cost += result.extra_cost
    ex.extra["cascade"] = result.steps
    if answer.upstream is None:
        tried = ", ".join(f"{a.model} ({a.error})" for a in answer.attempts) or "none eligible"
        ex.finish(502, answer, shadows=shadows)
        if ex.metered(None):  # the answers it rejected and its judge calls were paid for
            gw.limits.charge_soon(ex.charge(None, 0, 0, None))
        return Response(
            error_body(
                f"all upstreams failed: {tried}",
                "upstream_error",
                "all_upstreams_failed",
                attempts=[a.as_dict() for a in answer.attempts],
            ),
            502,
            ex.headers(answer=answer),
            media_type=JSON,
        )
    usage = answer.usage
    model, tokens_in, tokens_out = ex.finish(answer.status, answer, usage, shadows)
    # Every call the cascade made is charged: the answer kept, the ones it rejected and
    # the judge's, each at its model's list prices (ex.extra_cost holds all but the first).
    after = ex.charge(model, tokens_in, tokens_out, usage) if ex.metered(model) else None
    if stream and answer.status < 400:
        content = as_sse(answer.content)
        answer = Answer(answer.upstream, answer.status, content, "text/event-stream")
    return PlainAnswer(
        answer.status, ex.raw_headers(answer, len(answer.content)), answer.content, after
    )


def as_sse(content: bytes) -> bytes:
    """A complete chat completion as the SSE stream a streaming client expects."""
    completion = orjson.loads(content)
    base = {
        "id": completion.get("id", "chatcmpl-routectl"),
        "object": "chat.completion.chunk",
        "created": completion.get("created", 0),
        "model": completion.get("model", ""),
    }
    events = []
    for choice in completion.get("choices") or []:
        message = choice.get("message") or {}
        delta = {"role": message.get("role", "assistant"), "content": message.get("content")}
        if message.get("tool_calls"):
            delta["tool_calls"] = message["tool_calls"]
        events.append({**base, "choices": [{"index": choice.get("index", 0), "delta": delta}]})
        events.append(
            {
                **base,
                "choices": [
                    {
                        "index": choice.get("index", 0),
                        "delta": {},
                        "finish_reason": choice.get("finish_reason"),
                    }
                ],
            }
        )
    if completion.get("usage"):
        events.append({**base, "choices": [], "usage": completion["usage"]})
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"
