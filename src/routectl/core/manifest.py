"""The manifest model: what a routing policy document may say.

Documents are Kubernetes-style (``apiVersion``, ``kind``, ``metadata.name``,
``spec``). These pydantic models are the boundary: everything past them is
typed and validated. Field names are camelCase in YAML and snake_case in
Python. Lists that are sets (capabilities, certifications, languages, …) are
sorted and de-duplicated here, so that two manifests that mean the same thing
dump to the same canonical form (reconcile relies on that).

The JSON Schema in ``schemas/`` is generated from these models
(``routectl schema``), so editor completion and validation agree with the CLI.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import sys
import types
import typing
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import WithJsonSchema

from routectl.core.failover import DEFAULT_TRIGGERS, FallbackTrigger
from routectl.core.providers import served_types
from routectl.core.strategies import DEFAULT as DEFAULT_STRATEGY
from routectl.core.strategies import STRATEGIES

API_VERSION = "routectl.dev/v1"

NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"
SECRET_REF_PATTERN = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$"


# Words that read as acronyms in a field's title ("Base URL", not "Baseurl").
ACRONYMS = {"url": "URL", "api": "API", "usd": "USD", "ttft": "TTFT", "rpm": "RPM", "tpm": "TPM"}


def field_title(name: str, _info: Any = None) -> str:
    """The JSON Schema title of a field: ``base_url`` -> "Base URL", ``ttft_ms`` -> "TTFT ms"."""
    words = [ACRONYMS.get(w, w) for w in name.split("_") if w]
    if words and words[0] == words[0].lower():
        words[0] = words[0].capitalize()
    return " ".join(words)


class Spec(BaseModel):
    """Base of every spec: camelCase aliases, unknown fields rejected.

    Numbers and booleans are Strict*: ``rank: "1"`` or ``openWeight: "yes"`` is
    an error here exactly as it is in the JSON Schema editors validate against.
    A field's docstring is its description in the JSON Schema (editors show it):
    see :func:`describe_fields`.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        validate_default=True,  # defaults pass the same canonicalising validators
        field_title_generator=field_title,
    )


def _as_set(values: list[str]) -> list[str]:
    return sorted(set(values))


StrSet = Annotated[list[str], AfterValidator(_as_set)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
NameSet = Annotated[list[Name], AfterValidator(_as_set)]
NameList = list[Name]
Alias = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]
SecretRef = Annotated[
    str,
    Field(
        pattern=SECRET_REF_PATTERN,
        description="A reference to a secret, never its value: env:NAME or file:PATH.",
    ),
]


class Capability(StrEnum):
    chat = "chat"
    code = "code"
    vision = "vision"
    tools = "tools"
    json = "json"
    reasoning = "reasoning"
    embeddings = "embeddings"
    audio = "audio"


class Hosting(StrEnum):
    hosted = "hosted"
    on_prem = "on-prem"
    sovereign = "sovereign"


# The types some gateway adapter serves, and only those (routectl.core.providers declares them).
ProviderType = StrEnum(  # type: ignore[misc]
    "ProviderType", {name.replace("-", "_"): name for name in served_types()}
)


class Metadata(Spec):
    name: Name
    """The resource's name: lowercase letters, digits, '.', '_' and '-', at most 63 characters.
    Other documents refer to it by this name.
    """
    labels: dict[str, str] = Field(default_factory=dict)
    """Free-form key/value labels, copied to the gateway with the resource."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Free-form notes for people (an owner, a hypothesis, a ticket); routing ignores them."""
    protected: StrictBool = Field(
        default=False, description="apply never deletes a protected resource from a gateway."
    )


# --------------------------------------------------------------------------- providers / models


class RateLimits(Spec):
    rpm: StrictInt | None = Field(default=None, ge=1, description="Requests per minute.")
    tpm: StrictInt | None = Field(default=None, ge=1, description="Tokens (in + out) per minute.")


class Credentials(Spec):
    api_key: SecretRef | None = None
    """The provider's API key, by reference: env:NAME (an environment variable of the gateway) or
    file:PATH.
    """
    headers: dict[str, SecretRef] = Field(default_factory=dict)
    """Extra request headers whose values are secrets, each by reference (env:NAME or file:PATH)."""


class ProviderSpec(Spec):
    type: ProviderType = ProviderType.openai_compatible  # type: ignore[attr-defined]
    """The API the provider speaks: openai-compatible, anthropic, azure-openai, bedrock or vertex.
    """
    base_url: str = Field(pattern=r"^https?://")
    """The API's base URL, e.g. https://api.openai.com/v1 (the gateway appends /chat/completions).
    """
    jurisdiction: str = Field(
        pattern=r"^[A-Z]{2,4}$",
        description="ISO 3166-1 alpha-2 country (TR, DE) or a region code (EU, EEA, GCC).",
    )
    hosting: Hosting = Hosting.hosted
    """How the provider runs the models: hosted (a cloud API), on-prem (your own machines) or
    sovereign (a national or regulated cloud).
    """
    certifications: StrSet = Field(default_factory=list)
    """Certifications and agreements the provider holds (soc2, iso27001, zdr, gdpr-dpa, ...);
    classifications may require them.
    """
    credentials: Credentials = Field(default_factory=Credentials)
    """How the gateway authenticates to the provider; secrets by reference only."""
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    """The provider's rate limits for this account; simulate applies them to replayed traffic."""
    timeout_seconds: StrictFloat = Field(default=60.0, gt=0)
    """Seconds the gateway waits for an answer (or, when streaming, for the next chunk) before
    failing over.
    """

    @field_validator("type", mode="before")
    @classmethod
    def _served_type(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in served_types():
            raise ValueError(
                f"provider type {value!r} is not served by any adapter; "
                f"use one of {', '.join(served_types())}"
            )
        return value


class Pricing(Spec):
    """List prices in USD per one million tokens."""

    input: StrictFloat = Field(ge=0)
    """USD per one million input (prompt) tokens."""
    output: StrictFloat = Field(ge=0)
    """USD per one million output (completion) tokens."""
    cached_input: StrictFloat | None = Field(default=None, ge=0)
    """USD per one million cached input tokens, when the provider discounts them."""
    source: str | None = Field(default=None, description="Where the price was read, and when.")


class Latency(Spec):
    """A rough latency profile: time to first token plus decoding speed."""

    ttft_ms: StrictFloat = Field(ge=0)
    """Time to the first token, in milliseconds."""
    output_tokens_per_second: StrictFloat = Field(gt=0)
    """Decoding speed once the answer streams, in tokens per second."""


class QualityScore(Spec):
    """How well a model serves an intent, from the user's own evaluation (0..1)."""

    intent: Name | None = Field(default=None, description="Omitted: any intent without its own.")
    score: StrictFloat = Field(ge=0, le=1)
    """How well the model serves the intent, from 0 to 1."""
    source: str = Field(min_length=1, description="Which evaluation gave the score.")
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="When (YYYY-MM-DD).")


class ModelSpec(Spec):
    provider: Name
    """The Provider that serves this model (its metadata.name)."""
    upstream_model: str = Field(min_length=1)
    """The model's id at the provider, sent as the request's model field."""
    aliases: Annotated[list[Alias], AfterValidator(_as_set)] = Field(
        default_factory=list,
        description="Other names a client may ask for this model by (a request's 'model').",
    )
    tier: Name | None = None
    """The cost Tier the model belongs to (its metadata.name); routes may target a whole tier."""
    capabilities: Annotated[list[Capability], AfterValidator(lambda v: sorted(set(v)))] = Field(
        default_factory=lambda: [Capability.chat]
    )
    """What the model can do (chat, code, vision, tools, json, reasoning, embeddings, audio);
    intents and routes require capabilities.
    """
    languages: StrSet = Field(
        default_factory=list, description="ISO 639-1 codes the model serves well; empty: any."
    )
    open_weight: StrictBool = False
    """The model's weights are published; classifications may allow only open-weight models."""
    context_window: StrictInt = Field(ge=1)
    """The most tokens (input plus output) one request may use."""
    max_output_tokens: StrictInt = Field(ge=1)
    """The most tokens one answer may have; at most contextWindow."""
    pricing: Pricing
    """List prices, in USD per one million tokens."""
    latency: Latency | None = None
    """A rough latency profile, used by simulate to estimate response times."""
    certifications: StrSet = Field(default_factory=list)
    """Certifications of this model itself (e.g. a clinical validation), added to its provider's."""
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    """Limits of this model at the provider, on top of the provider's own."""
    quality: list[QualityScore] = Field(default_factory=list)
    """Quality scores per intent from your own evaluations (cheapest-above reads them)."""

    @model_validator(mode="after")
    def _output_fits(self) -> ModelSpec:
        if self.max_output_tokens > self.context_window:
            raise ValueError("maxOutputTokens cannot exceed contextWindow")
        intents = [q.intent for q in self.quality]
        if len(intents) != len(set(intents)):
            raise ValueError("quality: one score per intent (and at most one without an intent)")
        return self


# --------------------------------------------------------------------------- data classification


class ClassificationRules(Spec):
    jurisdictions: StrSet = Field(
        default_factory=list,
        description="Allowed jurisdictions (countries or regions); empty: any.",
    )
    hosting: Annotated[list[Hosting], AfterValidator(lambda v: sorted(set(v)))] = Field(
        default_factory=list, description="Allowed hosting kinds; empty: any."
    )
    certifications: StrSet = Field(
        default_factory=list,
        description="Certifications required of the provider or the model (all of them).",
    )
    open_weight_only: StrictBool = False
    """Only models with published weights may receive this data."""


class ClassificationSpec(Spec):
    description: str | None = None
    """What data this class covers, for people."""
    allow: ClassificationRules = Field(default_factory=ClassificationRules)
    """Where data of this class may go; a request may only reach models that satisfy every rule."""


# --------------------------------------------------------------------------- intents and tiers


class EncoderType(StrEnum):
    lexical = "lexical"
    embeddings = "embeddings"
    llm = "llm"


class Encoder(Spec):
    """How a prompt is compared with an intent's examples.

    ``lexical``: TF-IDF over word and character n-grams, fitted on the examples
    when the policy is resolved; no model weights, no network. ``embeddings``:
    an OpenAI-compatible ``/v1/embeddings`` endpoint (TEI, vLLM, Ollama, …) at a
    declared ``provider``, asked for ``model``; vectors are cached per text.
    ``llm``: a declared ``model`` is asked, with structured output, which intent
    a prompt is (the examples are its few-shot), and says how sure it is.
    """

    type: EncoderType = EncoderType.lexical
    """lexical (built in), embeddings (an /v1/embeddings endpoint) or llm (a classifying Model)."""
    provider: Name | None = Field(
        default=None, description="embeddings: the Provider serving /v1/embeddings."
    )
    model: str | None = Field(
        default=None,
        description="embeddings: the upstream embedding model; llm: the classifying Model.",
    )

    @model_validator(mode="after")
    def _fields_of_type(self) -> Encoder:
        if self.type is EncoderType.embeddings and (self.provider is None or self.model is None):
            raise ValueError("an embeddings encoder names a 'provider' and a 'model'")
        if self.type is EncoderType.llm and (self.model is None or self.provider is not None):
            raise ValueError("an llm encoder names a 'model' (a declared Model) and no provider")
        if self.type is EncoderType.lexical and (self.provider or self.model):
            raise ValueError("a lexical encoder takes no 'provider' or 'model'")
        return self


DEFAULT_THRESHOLD = 0.3


class IntentDetection(Spec):
    keywords: StrSet = Field(default_factory=list)
    """Words or phrases that, found in the prompt (case-insensitive), select this intent."""
    regex: list[Annotated[str, Field(json_schema_extra={"format": "regex"})]] = Field(
        default_factory=list
    )
    """Regular expressions (Python syntax) that, matching the prompt, select this intent."""
    languages: StrSet = Field(default_factory=list)
    """Languages (ISO 639-1) in which the keywords and expressions apply; empty: any."""
    examples: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="Labelled utterances: a prompt most like one of them is this intent "
        "(after keyword, regex and language rules of every intent found nothing).",
    )
    threshold: StrictFloat | None = Field(
        default=None,
        ge=0,
        le=1,
        description="The least similarity (or, for an llm encoder, confidence) that counts "
        f"(default {DEFAULT_THRESHOLD}).",
    )
    encoder: Encoder | None = Field(default=None, description="Default: lexical.")

    @model_validator(mode="after")
    def _examples_for_semantic_fields(self) -> IntentDetection:
        given = [n for n in ("encoder", "threshold") if getattr(self, n) is not None]
        if given and not self.examples:
            raise ValueError(f"{' and '.join(given)} apply to 'examples'; there are none")
        return self

    @field_validator("regex")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return patterns


class IntentSpec(Spec):
    description: str | None = None
    """What requests of this intent are for, for people."""
    requires: Annotated[list[Capability], AfterValidator(lambda v: sorted(set(v)))] = Field(
        default_factory=list, description="Capabilities a model must have to serve this intent."
    )
    detect: IntentDetection = Field(default_factory=IntentDetection)
    """How to recognise the intent from the prompt when the caller does not name it."""
    priority: StrictInt = Field(default=100, ge=0)
    """Detection tries intents in ascending priority, then by name: the same order whether
    the policy comes from files, a git revision or a gateway's store."""
    default: StrictBool = Field(
        default=False, description="The intent of a request that names none."
    )


class TierSpec(Spec):
    rank: StrictInt = Field(ge=0, description="Lower is cheaper: local/free 0, lightweight 1, …")
    description: str | None = None
    """What the tier is for, for people."""


# --------------------------------------------------------------------------- percentages


def _percent(value: Any) -> Any:
    """``80%`` or ``80`` both mean eighty percent (never 0.8, never 80 USD)."""
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)?%", text):
            raise ValueError(f"expected a percentage such as 80% or 80, got {value!r}")
        return float(text[:-1])
    return value


Percent = Annotated[
    StrictFloat,
    BeforeValidator(_percent),
    Field(ge=0, le=1000),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 1000},
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?%$"},
            ],
            "description": "A percentage: 80% or 80.",
        }
    ),
]


# --------------------------------------------------------------------------- routes


class TokenRange(Spec):
    """An inclusive range of token counts; an absent bound is open."""

    min: StrictInt | None = Field(default=None, ge=0)
    """The smallest count that matches; absent: no lower bound."""
    max: StrictInt | None = Field(default=None, ge=0)
    """The largest count that matches; absent: no upper bound."""

    @model_validator(mode="after")
    def _ordered(self) -> TokenRange:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min cannot exceed max")
        return self


class BudgetMatch(Spec):
    """Matches on the share used of the consumer's budgets (the most used one, team included)."""

    used_above: Percent | None = Field(default=None, description="Used strictly above this.")
    used_at_most: Percent | None = Field(default=None, description="Used at most this.")

    @model_validator(mode="after")
    def _some(self) -> BudgetMatch:
        if self.used_above is None and self.used_at_most is None:
            raise ValueError("give usedAbove, usedAtMost or both")
        return self


class RouteMatch(Spec):
    """All given fields must match; an empty list matches anything."""

    intents: NameSet = Field(default_factory=list)
    """Intents this route takes; empty: any."""
    classifications: NameSet = Field(default_factory=list)
    """Data classifications this route takes; empty: any."""
    languages: StrSet = Field(default_factory=list)
    """Request languages (ISO 639-1) this route takes; empty: any."""
    consumers: NameSet = Field(default_factory=list)
    """Consumers (their metadata.name) this route takes; empty: any."""
    teams: StrSet = Field(default_factory=list)
    """Consumer teams this route takes; empty: any."""
    metadata: dict[str, str] = Field(default_factory=dict)
    """Request metadata that must be present with exactly these values."""
    input_tokens: TokenRange | None = Field(
        default=None, description="The request's input tokens (the gateway's estimate or count)."
    )
    max_tokens: TokenRange | None = Field(
        default=None, description="Requested output: max_tokens (or the gateway's default)."
    )
    total_tokens: TokenRange | None = Field(default=None, description="Input plus max_tokens.")
    budget: BudgetMatch | None = None
    """The share of the consumer's budgets already used (e.g. usedAbove: 80%)."""


class Target(Spec):
    # JSON Schema for the "exactly one of model or tier" rule below.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["model"], "properties": {"model": {"type": "string"}}},
                {"required": ["tier"], "properties": {"tier": {"type": "string"}}},
            ]
        }
    )

    model: Name | None = None
    """A Model (its metadata.name)."""
    tier: Name | None = Field(default=None, description="Every model of this tier.")
    weight: StrictInt | None = Field(default=None, ge=0, le=100)
    """The share of traffic, 0-100, for the weighted strategy; the weights of a route add up to 100.
    """

    @model_validator(mode="after")
    def _one_of(self) -> Target:
        if (self.model is None) == (self.tier is None):
            raise ValueError("a target names exactly one of 'model' or 'tier'")
        return self


def _deprecated_on(schema: dict[str, Any]) -> None:
    """The schema accepts ``on`` as the deprecated name of ``triggers`` (never both)."""
    schema["properties"]["on"] = {
        **schema["properties"]["triggers"],
        "deprecated": True,
        "title": "On",
        "description": "Deprecated name of triggers: YAML 1.1 tools read the key on as true.",
    }
    schema["not"] = {"required": ["on", "triggers"]}


class Fallback(Spec):
    # `on:` was the triggers' first name; YAML 1.1 readers (PyYAML, yaml-language-server)
    # read that key as the boolean true, so it is accepted here but the schema and lint
    # (RT022) steer to `triggers`.
    model_config = ConfigDict(json_schema_extra=lambda schema, _cls: _deprecated_on(schema))

    chain: NameList = Field(default_factory=list)
    """Models tried in order when the chosen one fails with one of the triggers."""
    triggers: Annotated[list[FallbackTrigger], AfterValidator(lambda v: sorted(set(v)))] = Field(
        default_factory=lambda: list(DEFAULT_TRIGGERS)
    )
    """Failures that move to the next model: "429", 5xx, timeout, connection-error,
    context-length (quote "429": unquoted it is a number)."""

    @model_validator(mode="before")
    @classmethod
    def _old_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "on" in data:
            if "triggers" in data:
                raise ValueError("give triggers only (on is its deprecated name), not both")
            data = {("triggers" if k == "on" else k): v for k, v in data.items()}
        return data

    @property
    def on(self) -> list[FallbackTrigger]:
        """The deprecated name of :attr:`triggers`."""
        return self.triggers


class Shadow(Spec):
    model: Name
    """The model that receives a copy of the request; its answer is measured, never returned."""
    percent: StrictFloat = Field(gt=0, le=100)
    """The share of the route's requests copied, above 0 and at most 100."""


class Constraints(Spec):
    max_cost_per_request: StrictFloat | None = Field(default=None, gt=0, description="USD.")
    min_context_window: StrictInt | None = Field(default=None, ge=1)
    """Only models whose context window is at least this many tokens."""
    requires: Annotated[list[Capability], AfterValidator(lambda v: sorted(set(v)))] = Field(
        default_factory=list
    )
    """Capabilities every target must have, on top of the intent's."""


class Judge(Spec):
    model: Name = Field(description="The Model asked to score the answer from 0 to 1.")
    threshold: StrictFloat = Field(ge=0, le=1, description="A score below it escalates.")


class AnswerChecks(Spec):
    """What makes a cascade step's answer not good enough (any one escalates)."""

    truncated: StrictBool = Field(default=True, description="finish_reason 'length' escalates.")
    refusal: list[Annotated[str, Field(json_schema_extra={"format": "regex"})]] = Field(
        default_factory=list,
        description="Patterns (case-insensitive) of a refusal in the answer's text.",
    )
    json_: StrictBool = Field(
        default=False, alias="json", description="The answer must be a JSON document."
    )
    json_schema: dict[str, Any] | None = Field(
        default=None, description="The answer must be JSON valid against this JSON Schema."
    )
    judge: Judge | None = None
    """A Model that scores each answer from 0 to 1; below its threshold escalates."""

    @field_validator("refusal")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return patterns


class Cascade(Spec):
    checks: AnswerChecks = Field(default_factory=AnswerChecks)
    """What makes an answer not good enough; any one failing check escalates."""
    escalation_rates: dict[Name, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict,
        description="simulate: the share of each model's answers that fail the checks "
        "(an assumption, or measured from a decision log with --escalation-log).",
    )


class RouteSpec(Spec):
    order: StrictInt = Field(
        default=100, description="Routes are tried in ascending order; first match wins."
    )
    description: str | None = None
    """What the route is for, for people."""
    match: RouteMatch = Field(default_factory=RouteMatch)
    """Which requests this route takes; all given fields must match."""
    strategy: Literal[tuple(STRATEGIES)] = DEFAULT_STRATEGY  # type: ignore[valid-type]
    """How the targets are ordered or split: priority (the first eligible), cheapest (every
    eligible model ranked by this request's cost) or weighted (a sticky split by weight)."""
    targets: list[Target] = Field(min_length=1)
    """The candidate models or tiers, at least one."""
    cascade: Cascade | None = Field(
        default=None, description="strategy cascade: the answer checks that escalate."
    )
    quality: StrictFloat | None = Field(
        default=None,
        ge=0,
        le=1,
        description="strategy cheapest-above: the least quality score (for the intent).",
    )
    fallback: Fallback = Field(default_factory=Fallback)
    """What to try when the chosen model fails, and on which failures."""
    shadows: list[Shadow] = Field(default_factory=list)
    """Models that receive a copy of some requests, to compare them without affecting answers."""
    constraints: Constraints = Field(default_factory=Constraints)
    """Limits every target must meet: cost per request, context window, capabilities."""
    sticky_by: Literal["consumer", "session", "request_id"] = "request_id"
    """What keeps a caller on the same weighted arm: consumer, session or request_id."""

    @model_validator(mode="after")
    def _strategy_fields(self) -> RouteSpec:
        strategy = STRATEGIES[self.strategy]
        if self.cascade is not None and not strategy.escalates:
            readers = ", ".join(n for n, s in STRATEGIES.items() if s.escalates)
            raise ValueError(f"'cascade' is read only by strategy {readers}")
        if (self.quality is None) == strategy.quality_bar:
            readers = ", ".join(n for n, s in STRATEGIES.items() if s.quality_bar)
            raise ValueError(f"strategy {readers} needs 'quality', and only it reads it")
        return self


# --------------------------------------------------------------------------- experiments, consumers


class ExperimentSpec(Spec):
    route: Name
    """The Route whose traffic the experiment takes a share of."""
    candidate: Name = Field(description="The candidate model.")
    percent: StrictFloat = Field(gt=0, le=100)
    """The share of the route's traffic sent to the candidate, above 0 and at most 100."""
    mode: Literal["live", "shadow"] = "live"
    """live: the candidate answers its share; shadow: it gets a copy and its answers are only
    measured.
    """
    sticky_by: Literal["consumer", "session", "request_id"] = "consumer"
    """What keeps a caller in the same arm: consumer, session or request_id."""
    enabled: StrictBool = True
    """false pauses the experiment without deleting it."""


class ConsumerAccess(Spec):
    intents: NameSet = Field(default_factory=list, description="Empty: any intent.")
    classifications: NameSet = Field(default_factory=list, description="Empty: any.")


class BudgetPeriod(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


class BudgetAction(StrEnum):
    downgrade = "downgrade"
    block = "block"
    alert = "alert"


class BudgetThreshold(Spec):
    at: Percent = Field(description="Applies once spend reaches this share of the amount.")
    action: BudgetAction
    """alert (a metric and a log line), downgrade (to a tier or route) or block (429)."""
    tier: Name | None = Field(default=None, description="downgrade: serve from this tier.")
    route: Name | None = Field(default=None, description="downgrade: serve by this route.")

    @model_validator(mode="after")
    def _target(self) -> BudgetThreshold:
        if self.at <= 0:
            raise ValueError("a threshold is above 0%")
        given = (self.tier is not None) + (self.route is not None)
        if self.action is BudgetAction.downgrade and given != 1:
            raise ValueError("a downgrade names exactly one of 'tier' or 'route'")
        if self.action is not BudgetAction.downgrade and given:
            raise ValueError(f"'tier' and 'route' belong to downgrade, not {self.action.value}")
        return self


class Budget(Spec):
    """Spend allowed per period. Without thresholds a budget blocks at 100%."""

    monthly_usd: StrictFloat | None = Field(
        default=None, gt=0, description="Shorthand for amountUsd with period monthly."
    )
    amount_usd: StrictFloat | None = Field(default=None, gt=0)
    """Spend allowed per period, in USD at the answering models' list prices."""
    period: BudgetPeriod = BudgetPeriod.monthly
    """How long one budget window lasts: daily, weekly or monthly."""
    time_zone: str = Field(
        default="UTC", description="IANA zone whose calendar starts each period."
    )
    rolling: StrictBool = Field(
        default=False,
        description="The last 24 hours / 7 days / 30 days instead of the calendar period.",
    )
    thresholds: list[BudgetThreshold] = Field(default_factory=list)
    """What happens as spend reaches shares of the amount; none: block at 100%."""
    charge_shadows: StrictBool = Field(
        default=False, description="Charge shadow copies to this budget (else a separate line)."
    )

    @model_validator(mode="after")
    def _amount(self) -> Budget:
        if (self.monthly_usd is None) == (self.amount_usd is None):
            raise ValueError("a budget gives exactly one of 'monthlyUsd' or 'amountUsd'")
        if self.monthly_usd is not None and self.period is not BudgetPeriod.monthly:
            raise ValueError("monthlyUsd is a monthly budget; use amountUsd with another period")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.time_zone!r}") from None
        return self

    @property
    def amount(self) -> float:
        return self.amount_usd if self.amount_usd is not None else float(self.monthly_usd or 0)


class ConsumerSpec(Spec):
    # JSON Schema for the "apiKey or anonymous" rule below.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["apiKey"], "properties": {"apiKey": {"type": "string"}}},
                {"required": ["anonymous"], "properties": {"anonymous": {"const": True}}},
            ]
        }
    )

    team: str | None = None
    """The caller's team; routes may match on it."""
    api_key: SecretRef | None = None
    """The caller's API key, by reference (env:NAME or file:PATH); the gateway keeps only its
    SHA-256 digest.
    """
    anonymous: StrictBool = Field(
        default=False, description="Grants key-less access; only for explicitly public callers."
    )
    allow: ConsumerAccess = Field(default_factory=ConsumerAccess)
    """What this caller may do: intents and data classifications."""
    intent_source: Literal["declared", "detected"] = "declared"
    """detected: the intent this consumer's requests declare (header, metadata) is ignored and
    the policy's intent rules decide, so 'allow.intents' cannot be sidestepped by naming an
    allowed intent."""
    budget: Budget | None = None
    """Spend allowed per period, with thresholds that alert, downgrade or block."""
    rate_limits: RateLimits = Field(
        default_factory=RateLimits, description="Per consumer, across every model."
    )

    @model_validator(mode="after")
    def _key_or_anonymous(self) -> ConsumerSpec:
        if self.api_key is None and not self.anonymous:
            raise ValueError("a consumer needs an apiKey reference or 'anonymous: true'")
        return self


class TeamSpec(Spec):
    """What consumers naming this team (``spec.team``) share."""

    description: str | None = None
    """What the team is, for people."""
    budget: Budget | None = None
    """Spend shared by every consumer of the team, beside each consumer's own budget."""


# --------------------------------------------------------------------------- policy tests


class CaseRequest(Spec):
    intent: str | None = None
    """The request's intent, as a caller would name it (else detected from the prompt)."""
    classification: str | None = None
    """The request's data classification; absent: treated as the strictest."""
    language: str | None = None
    """The request's language (ISO 639-1)."""
    consumer: str | None = None
    """The calling Consumer (its metadata.name)."""
    input_tokens: StrictInt = Field(default=1000, ge=0)
    """Input tokens of the request, for cost and context-window checks."""
    output_tokens: StrictInt = Field(default=256, ge=0)
    """Expected output tokens, for cost checks."""
    metadata: dict[str, str] = Field(default_factory=dict)
    """Request metadata (x-routectl-metadata-* headers)."""
    prompt: str | None = None
    """The prompt text, which intent detection reads."""
    request_id: str | None = None
    """The request id, which decides the weighted arm when the route is sticky by request_id."""
    budget_used: Percent | None = Field(
        default=None, description="Share of the consumer's budgets already spent."
    )
    session: str | None = Field(default=None, description="Sticky key for session splits.")
    requires: Annotated[list[Capability], AfterValidator(lambda v: sorted(set(v)))] = Field(
        default_factory=list, description="Capabilities the request itself needs."
    )
    model: str | None = Field(
        default=None,
        description="The model the client asks for (a name or alias); absent or 'auto': any.",
    )


class CaseExpectation(Spec):
    routes_to: Name | None = Field(default=None, description="The expected primary model.")
    route: Name | None = Field(default=None, description="The expected matching route.")
    fallbacks: list[Name] | None = Field(default=None, description="The exact fallback chain.")
    intent: Name | None = Field(default=None, description="The intent found for the request.")
    never_routes_to: NameList = Field(
        default_factory=list,
        description="Models that must appear nowhere: primary, fallbacks, arms, shadows.",
    )
    unroutable: StrictBool | None = None
    """true: no model may take the request."""
    served_by: Name | None = Field(
        default=None,
        description="The model that answers once the chain fails over past what is down.",
    )
    shadows: NameSet | None = Field(default=None, description="The exact shadow copies drawn.")
    arm: str | None = Field(
        default=None, description="The arm drawn: primary, pinned, candidate or a target."
    )
    experiment: Name | None = Field(default=None, description="The live experiment drawn.")


class CaseSpec(Spec):
    name: str
    """What the case checks, shown when it fails."""
    request: CaseRequest
    """The request to decide."""
    down: NameSet = Field(
        default_factory=list,
        description="Providers or models that are down (fail with 5xx/timeouts) in this case.",
    )
    expect: CaseExpectation
    """What the decision must be."""


class PolicyTestSpec(Spec):
    description: str | None = None
    """What the tests cover, for people."""
    cases: list[CaseSpec] = Field(min_length=1)
    """The requests and their expected decisions, at least one."""


# --------------------------------------------------------------------------- documents


class _Document(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        field_title_generator=field_title,
    )

    api_version: Literal["routectl.dev/v1"] = Field(alias="apiVersion")
    """Always routectl.dev/v1."""
    metadata: Metadata
    """The resource's name, labels and annotations."""


class Provider(_Document):
    kind: Literal["Provider"]
    """The kind of resource this document declares."""
    spec: ProviderSpec
    """What the resource says; its fields depend on kind."""


class Model(_Document):
    kind: Literal["Model"]
    """The kind of resource this document declares."""
    spec: ModelSpec
    """What the resource says; its fields depend on kind."""


class Classification(_Document):
    kind: Literal["Classification"]
    """The kind of resource this document declares."""
    spec: ClassificationSpec = Field(default_factory=ClassificationSpec)
    """What the resource says; its fields depend on kind."""


class Intent(_Document):
    kind: Literal["Intent"]
    """The kind of resource this document declares."""
    spec: IntentSpec = Field(default_factory=IntentSpec)
    """What the resource says; its fields depend on kind."""


class Tier(_Document):
    kind: Literal["Tier"]
    """The kind of resource this document declares."""
    spec: TierSpec
    """What the resource says; its fields depend on kind."""


class Route(_Document):
    kind: Literal["Route"]
    """The kind of resource this document declares."""
    spec: RouteSpec
    """What the resource says; its fields depend on kind."""


class Experiment(_Document):
    kind: Literal["Experiment"]
    """The kind of resource this document declares."""
    spec: ExperimentSpec
    """What the resource says; its fields depend on kind."""


class Consumer(_Document):
    kind: Literal["Consumer"]
    """The kind of resource this document declares."""
    spec: ConsumerSpec
    """What the resource says; its fields depend on kind."""


class Team(_Document):
    kind: Literal["Team"]
    """The kind of resource this document declares."""
    spec: TeamSpec = Field(default_factory=TeamSpec)
    """What the resource says; its fields depend on kind."""


class PolicyTest(_Document):
    kind: Literal["PolicyTest"]
    """The kind of resource this document declares."""
    spec: PolicyTestSpec
    """What the resource says; its fields depend on kind."""


Document = Annotated[
    Provider
    | Model
    | Classification
    | Intent
    | Tier
    | Route
    | Experiment
    | Consumer
    | Team
    | PolicyTest,
    Field(discriminator="kind"),
]


@functools.cache
def document_adapter() -> TypeAdapter[Any]:
    return TypeAdapter(Document)


KINDS: tuple[str, ...] = (
    "Provider",
    "Model",
    "Classification",
    "Intent",
    "Tier",
    "Route",
    "Experiment",
    "Consumer",
    "Team",
    "PolicyTest",
)

# Which spec fields hold secret references: reconcile masks them by field, the
# gateway resolves them, lint checks nothing else looks like a secret.
SECRET_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Provider": (("credentials", "apiKey"), ("credentials", "headers", "*")),
    "Consumer": (("apiKey",),),
}


# Keys renamed since they first shipped: new name -> old name, still accepted (with a lint
# warning) so that existing policies keep loading, and located under their old name.
DEPRECATED_KEYS: dict[str, str] = {"triggers": "on"}


def unwrap(annotation: Any) -> tuple[str, Any]:
    """('model', M), ('list', item), ('dict', value) or ('leaf', None) for a field's type."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                kind, inner = unwrap(arg)
                if kind != "leaf":
                    return kind, inner
        return "leaf", None
    if origin is list:
        return "list", typing.get_args(annotation)[0]
    if origin is dict:
        return "dict", typing.get_args(annotation)[1]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    return "leaf", None


def yaml_fields(model: type[BaseModel]) -> dict[str, Any]:
    """YAML key -> type of each field of ``model``, in declaration order."""
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def document_model(kind: Any) -> type[BaseModel] | None:
    """The document model of a kind (``Route`` -> :class:`Route`), None if unknown."""
    model = globals().get(kind) if kind in KINDS else None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def fields_at(kind: Any, path: Sequence[str | int]) -> list[str] | None:
    """The YAML keys allowed in the mapping at ``path`` of a ``kind`` document, or None."""
    current: Any = document_model(kind)
    if current is None:
        return None
    shape = "model"
    for part in path:
        if shape == "model" and isinstance(part, str):
            annotation = yaml_fields(current).get(part)
            if annotation is None:
                return None
            shape, current = unwrap(annotation)
        elif shape in ("list", "dict"):
            shape, current = unwrap(current)
        else:
            return None
    return list(yaml_fields(current)) if shape == "model" else None


def parse_document(data: Any) -> Any:
    """Validate one plain document (dicts/lists) into its typed model."""
    return document_adapter().validate_python(data)


@functools.cache
def describe_fields() -> None:
    """Give every field its attribute docstring as its description, and rebuild the
    models so the JSON Schema carries them. Pydantic can read the docstrings as each
    class is made (``use_attribute_docstrings``), but that reads this module's source
    once per class, a twentieth of a second of every command's start-up; only the
    schema needs them. The same rule as pydantic's: a field's docstring is the string
    right after its annotation, in the class that declares it; an explicit
    ``Field(description=...)`` wins."""
    tree = ast.parse(inspect.getsource(sys.modules[__name__]))
    docs: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        own = docs.setdefault(node.name, {})
        for stmt, following in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                own[stmt.target.id] = inspect.cleandoc(following.value.value)
    models = [
        value
        for value in globals().values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel
    ]
    for model in models:
        for name, field in model.model_fields.items():
            declared = next(
                (k for k in model.__mro__ if name in k.__dict__.get("__annotations__", {})), model
            )
            doc = docs.get(declared.__name__, {}).get(name)
            if field.description is None and doc is not None:
                field.description = doc
    for _ in range(2):  # twice: a model may name one defined after it
        for model in models:
            model.model_rebuild(force=True)
    document_adapter.cache_clear()


def json_schema() -> dict[str, Any]:
    describe_fields()
    schema = document_adapter().json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://routectl.dev/schemas/routectl.schema.json"
    schema["title"] = "routectl manifest document"
    return schema
