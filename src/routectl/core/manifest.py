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

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
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

from routectl.core.failover import DEFAULT_TRIGGERS, FallbackTrigger
from routectl.core.strategies import DEFAULT as DEFAULT_STRATEGY
from routectl.core.strategies import STRATEGIES

API_VERSION = "routectl.dev/v1"

NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"
SECRET_REF_PATTERN = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$"


class Spec(BaseModel):
    """Base of every spec: camelCase aliases, unknown fields rejected.

    Numbers and booleans are Strict*: ``rank: "1"`` or ``openWeight: "yes"`` is
    an error here exactly as it is in the JSON Schema editors validate against.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        validate_default=True,  # defaults pass the same canonicalising validators
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


class ProviderType(StrEnum):
    openai_compatible = "openai-compatible"
    anthropic = "anthropic"
    azure_openai = "azure-openai"
    bedrock = "bedrock"
    vertex = "vertex"


class Metadata(Spec):
    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    protected: StrictBool = Field(
        default=False, description="apply never deletes a protected resource from a gateway."
    )


# --------------------------------------------------------------------------- providers / models


class RateLimits(Spec):
    rpm: StrictInt | None = Field(default=None, ge=1, description="Requests per minute.")
    tpm: StrictInt | None = Field(default=None, ge=1, description="Tokens (in + out) per minute.")


class Credentials(Spec):
    api_key: SecretRef | None = None
    headers: dict[str, SecretRef] = Field(default_factory=dict)


class ProviderSpec(Spec):
    type: ProviderType = ProviderType.openai_compatible
    base_url: str = Field(pattern=r"^https?://")
    jurisdiction: str = Field(
        pattern=r"^[A-Z]{2,4}$",
        description="ISO 3166-1 alpha-2 country (TR, DE) or a region code (EU, EEA, GCC).",
    )
    hosting: Hosting = Hosting.hosted
    certifications: StrSet = Field(default_factory=list)
    credentials: Credentials = Field(default_factory=Credentials)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    timeout_seconds: StrictFloat = Field(default=60.0, gt=0)


class Pricing(Spec):
    """List prices in USD per one million tokens."""

    input: StrictFloat = Field(ge=0)
    output: StrictFloat = Field(ge=0)
    cached_input: StrictFloat | None = Field(default=None, ge=0)
    source: str | None = Field(default=None, description="Where the price was read, and when.")


class Latency(Spec):
    """A rough latency profile: time to first token plus decoding speed."""

    ttft_ms: StrictFloat = Field(ge=0)
    output_tokens_per_second: StrictFloat = Field(gt=0)


class QualityScore(Spec):
    """How well a model serves an intent, from the user's own evaluation (0..1)."""

    intent: Name | None = Field(default=None, description="Omitted: any intent without its own.")
    score: StrictFloat = Field(ge=0, le=1)
    source: str = Field(min_length=1, description="Which evaluation gave the score.")
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="When (YYYY-MM-DD).")


class ModelSpec(Spec):
    provider: Name
    upstream_model: str = Field(min_length=1)
    aliases: Annotated[list[Alias], AfterValidator(_as_set)] = Field(
        default_factory=list,
        description="Other names a client may ask for this model by (a request's 'model').",
    )
    tier: Name | None = None
    capabilities: Annotated[list[Capability], AfterValidator(lambda v: sorted(set(v)))] = Field(
        default_factory=lambda: [Capability.chat]
    )
    languages: StrSet = Field(
        default_factory=list, description="ISO 639-1 codes the model serves well; empty: any."
    )
    open_weight: StrictBool = False
    context_window: StrictInt = Field(ge=1)
    max_output_tokens: StrictInt = Field(ge=1)
    pricing: Pricing
    latency: Latency | None = None
    certifications: StrSet = Field(default_factory=list)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    quality: list[QualityScore] = Field(default_factory=list)

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


class ClassificationSpec(Spec):
    description: str | None = None
    allow: ClassificationRules = Field(default_factory=ClassificationRules)


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
    regex: list[Annotated[str, Field(json_schema_extra={"format": "regex"})]] = Field(
        default_factory=list
    )
    languages: StrSet = Field(default_factory=list)
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
    requires: Annotated[list[Capability], AfterValidator(lambda v: sorted(set(v)))] = Field(
        default_factory=list, description="Capabilities a model must have to serve this intent."
    )
    detect: IntentDetection = Field(default_factory=IntentDetection)
    default: StrictBool = Field(
        default=False, description="The intent of a request that names none."
    )


class TierSpec(Spec):
    rank: StrictInt = Field(ge=0, description="Lower is cheaper: local/free 0, lightweight 1, …")
    description: str | None = None


# --------------------------------------------------------------------------- routes


class RouteMatch(Spec):
    """All given fields must match; an empty list matches anything."""

    intents: NameSet = Field(default_factory=list)
    classifications: NameSet = Field(default_factory=list)
    languages: StrSet = Field(default_factory=list)
    consumers: NameSet = Field(default_factory=list)
    teams: StrSet = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)


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
    tier: Name | None = Field(default=None, description="Every model of this tier.")
    weight: StrictInt | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _one_of(self) -> Target:
        if (self.model is None) == (self.tier is None):
            raise ValueError("a target names exactly one of 'model' or 'tier'")
        return self


class Fallback(Spec):
    chain: NameList = Field(default_factory=list)
    on: Annotated[list[FallbackTrigger], AfterValidator(lambda v: sorted(set(v)))] = Field(
        default_factory=lambda: list(DEFAULT_TRIGGERS)
    )


class Shadow(Spec):
    model: Name
    percent: StrictFloat = Field(gt=0, le=100)


class Constraints(Spec):
    max_cost_per_request: StrictFloat | None = Field(default=None, gt=0, description="USD.")
    min_context_window: StrictInt | None = Field(default=None, ge=1)
    requires: Annotated[list[Capability], AfterValidator(lambda v: sorted(set(v)))] = Field(
        default_factory=list
    )


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
    match: RouteMatch = Field(default_factory=RouteMatch)
    strategy: Literal[tuple(STRATEGIES)] = DEFAULT_STRATEGY  # type: ignore[valid-type]
    targets: list[Target] = Field(min_length=1)
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
    shadows: list[Shadow] = Field(default_factory=list)
    constraints: Constraints = Field(default_factory=Constraints)
    sticky_by: Literal["consumer", "session", "request_id"] = "request_id"

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
    candidate: Name = Field(description="The candidate model.")
    percent: StrictFloat = Field(gt=0, le=100)
    mode: Literal["live", "shadow"] = "live"
    sticky_by: Literal["consumer", "session", "request_id"] = "consumer"
    enabled: StrictBool = True


class ConsumerAccess(Spec):
    intents: NameSet = Field(default_factory=list, description="Empty: any intent.")
    classifications: NameSet = Field(default_factory=list, description="Empty: any.")


class Budget(Spec):
    monthly_usd: StrictFloat = Field(gt=0)


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
    api_key: SecretRef | None = None
    anonymous: StrictBool = Field(
        default=False, description="Grants key-less access; only for explicitly public callers."
    )
    allow: ConsumerAccess = Field(default_factory=ConsumerAccess)
    budget: Budget | None = None

    @model_validator(mode="after")
    def _key_or_anonymous(self) -> ConsumerSpec:
        if self.api_key is None and not self.anonymous:
            raise ValueError("a consumer needs an apiKey reference or 'anonymous: true'")
        return self


# --------------------------------------------------------------------------- policy tests


class CaseRequest(Spec):
    intent: str | None = None
    classification: str | None = None
    language: str | None = None
    consumer: str | None = None
    input_tokens: StrictInt = Field(default=1000, ge=0)
    output_tokens: StrictInt = Field(default=256, ge=0)
    metadata: dict[str, str] = Field(default_factory=dict)
    prompt: str | None = None
    request_id: str | None = None
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
    request: CaseRequest
    down: NameSet = Field(
        default_factory=list,
        description="Providers or models that are down (fail with 5xx/timeouts) in this case.",
    )
    expect: CaseExpectation


class PolicyTestSpec(Spec):
    description: str | None = None
    cases: list[CaseSpec] = Field(min_length=1)


# --------------------------------------------------------------------------- documents


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    api_version: Literal["routectl.dev/v1"] = Field(alias="apiVersion")
    metadata: Metadata


class Provider(_Document):
    kind: Literal["Provider"]
    spec: ProviderSpec


class Model(_Document):
    kind: Literal["Model"]
    spec: ModelSpec


class Classification(_Document):
    kind: Literal["Classification"]
    spec: ClassificationSpec = Field(default_factory=ClassificationSpec)


class Intent(_Document):
    kind: Literal["Intent"]
    spec: IntentSpec = Field(default_factory=IntentSpec)


class Tier(_Document):
    kind: Literal["Tier"]
    spec: TierSpec


class Route(_Document):
    kind: Literal["Route"]
    spec: RouteSpec


class Experiment(_Document):
    kind: Literal["Experiment"]
    spec: ExperimentSpec


class Consumer(_Document):
    kind: Literal["Consumer"]
    spec: ConsumerSpec


class PolicyTest(_Document):
    kind: Literal["PolicyTest"]
    spec: PolicyTestSpec


Document = Annotated[
    Provider | Model | Classification | Intent | Tier | Route | Experiment | Consumer | PolicyTest,
    Field(discriminator="kind"),
]
DOCUMENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Document)
KINDS: tuple[str, ...] = (
    "Provider",
    "Model",
    "Classification",
    "Intent",
    "Tier",
    "Route",
    "Experiment",
    "Consumer",
    "PolicyTest",
)

# Which spec fields hold secret references: reconcile masks them by field, the
# gateway resolves them, lint checks nothing else looks like a secret.
SECRET_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Provider": (("credentials", "apiKey"), ("credentials", "headers", "*")),
    "Consumer": (("apiKey",),),
}


def parse_document(data: Any) -> Any:
    """Validate one plain document (dicts/lists) into its typed model."""
    return DOCUMENT_ADAPTER.validate_python(data)


def json_schema() -> dict[str, Any]:
    schema = DOCUMENT_ADAPTER.json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://routectl.dev/schemas/routectl.schema.json"
    schema["title"] = "routectl manifest document"
    return schema
