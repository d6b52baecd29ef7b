"""Token-dependent quantities as linear forms in a request's input and output tokens.

Everything routing reads from token counts is one of these: tokens against a
context window, output tokens against an output limit, a model's cost against
a route's cap or against another model's cost. Declaring them as forms (not
as code) lets the plan cache check a request in a few comparisons and lets
simulate group traffic by their signs in SQL. A form is evaluated exactly as
:meth:`ModelInfo.cost` computes a cost, IEEE doubles in the same order, so
every consumer agrees with the evaluator to the last bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routectl.core.policy import ModelInfo


@dataclass(frozen=True, slots=True)
class Linear:
    """``(input_tokens * input + output_tokens * output) / scale``."""

    input: float
    output: float
    scale: float = 1

    def __call__(self, input_tokens: int, output_tokens: int) -> float:
        value = input_tokens * self.input + output_tokens * self.output
        return value if self.scale == 1 else value / self.scale

    def sql(self, input_column: str, output_column: str) -> str:
        """The same arithmetic in SQL (DuckDB), as doubles."""
        if self.scale == 1 and self.input in (0, 1) and self.output in (0, 1):
            terms = [c for c, k in ((input_column, self.input), (output_column, self.output)) if k]
            return f"({' + '.join(terms) or '0'})"
        return (
            f"(({input_column}::DOUBLE * {float(self.input)!r}::DOUBLE + "
            f"{output_column}::DOUBLE * {float(self.output)!r}::DOUBLE) / "
            f"{float(self.scale)!r}::DOUBLE)"
        )


@dataclass(frozen=True, slots=True)
class Bound:
    """A request passes when ``form(input, output) <= limit``."""

    form: Linear
    limit: float

    def holds(self, input_tokens: int, output_tokens: int) -> bool:
        return self.form(input_tokens, output_tokens) <= self.limit

    def sql_broken(self, input_column: str, output_column: str) -> str:
        """SQL that is true where the bound is broken."""
        limit = self.limit
        shown = repr(limit) if isinstance(limit, int) else f"{float(limit)!r}::DOUBLE"
        return f"({self.form.sql(input_column, output_column)} > {shown})"


TOTAL_TOKENS = Linear(1, 1)
INPUT_TOKENS = Linear(1, 0)
OUTPUT_TOKENS = Linear(0, 1)


def within(form: Linear, low: int | None, high: int | None) -> tuple[Bound, ...]:
    """Bounds that hold exactly when ``low <= form <= high`` (a bound of None is open)."""
    out = []
    if low is not None:
        out.append(Bound(Linear(-form.input, -form.output, form.scale), -low))
    if high is not None:
        out.append(Bound(form, high))
    return tuple(out)


def cost_form(model: ModelInfo) -> Linear:
    """A model's cost in USD for a request (list prices are per 1M tokens): the form
    :class:`ModelInfo` makes once from its prices."""
    return model.cost_form
