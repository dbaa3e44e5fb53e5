"""Judge prompts and verdicts: the messages a judge is sent, how its answer is read."""

from __future__ import annotations

import hashlib
import json
import math
import re

from evaluations.generation.requests import model_request_params
from evaluations.models import (
    JUDGE_PROMPT_TEMPLATE,
    JUDGE_SYSTEM_PROMPT,
    Judge,
    JudgeVote,
    Study,
)
from evaluations.providers.access import Deployment, ProviderAccessRefused, deployment_authorize

PLACEHOLDERS = ("{question}", "{answer_a}", "{answer_b}")
LABELS = ("a", "tie", "b")  # ordinal codes 0, 1, 2 for the agreement tables

# "[[A]]", "[[ b ]]", "[[C]]", "[[Tie]]": MT-Bench's tokens, tolerant of case and spaces.
_DOUBLE = re.compile(r"\[\[\s*(A|B|C|TIE)\s*\]\]", re.IGNORECASE)
# A last line that is only a verdict: "[B]", "Verdict: A", "Final verdict: tie", "(C).", "B"
_LAST_LINE = re.compile(
    r"^\W*(?:(?:my\s+)?(?:final\s+)?verdict\s*(?:is)?\s*[:\-]?\s*)?[\[(\"'*]*\s*"
    r"(A|B|C|TIE)\s*[\])\"'*]*\s*\.?\W*$",
    re.IGNORECASE,
)
_TOKENS = {"a": "A", "b": "B", "c": "C", "tie": "C"}


class JudgingError(Exception):
    """Judging cannot start: the study or a judge is not set up for it."""


# -- prompts and verdicts -------------------------------------------------------------------


def _verdict_span(text: str) -> tuple[str, int, int] | None:
    """The verdict token ("A", "B", "C") and where its word is in the text."""
    tokens = list(_DOUBLE.finditer(text))
    if tokens:
        last = tokens[-1]
        return _TOKENS[last.group(1).lower()], last.start(1), last.end(1)
    last, offset, position = "", 0, 0
    for line in text.splitlines(keepends=True):
        if line.strip():
            last, offset = line.strip(), position + line.index(line.strip())
        position += len(line)
    match = _LAST_LINE.match(last) if last else None
    if match:
        return _TOKENS[match.group(1).lower()], offset + match.start(1), offset + match.end(1)
    return None


def verdict_parse(text: str) -> str | None:
    """The judge's verdict as "A", "B" or "C" (tie), or None when it gave none.

    The last MT-Bench token ([[A]], [[B]], [[C]]; [[Tie]] too) wins, so an explanation that
    quotes the format before concluding is read by its conclusion. Without such a token, a last
    line that is only a verdict ("[B]", "Verdict: tie") is accepted. Anything else is None.
    """
    span = _verdict_span(text or "")
    return span[0] if span else None


def verdict_probability(
    *, text: str, token_logprobs: list[tuple[str, float, list[tuple[str, float]]]], order: str
) -> float | None:
    """model_a's expected score (a 1, tie 1/2, b 0) under the judge's own distribution over
    its verdict token, read from the token log-probabilities at the verdict's position; None
    when there are none, they do not spell the text, or the verdict's token is not one the
    alternatives can be read from.

    At the token holding the verdict word (e.g. "A" in "[[A]]", or "[[A" if the vocabulary
    joins them), an alternative counts for verdict X when it is the same token with X in the
    word's place (case and surrounding spaces ignored); the probabilities of A, B and C/tie
    among the alternatives returned are renormalised to sum to 1 (verdicts below the top ones
    returned count as 0).
    """
    span = _verdict_span(text or "")
    if span is None or not token_logprobs:
        return None
    if "".join(token for token, _, _ in token_logprobs) != text:
        return None
    _, start, end = span
    position = 0
    for token, logprob, top in token_logprobs:
        if position <= start < position + len(token):
            if end > position + len(token):
                return None  # the verdict word is split over several tokens
            prefix = token[: start - position].strip().upper()
            suffix = token[end - position :].strip().upper()
            mass = {"A": 0.0, "B": 0.0, "C": 0.0}
            for alternative, alt_logprob in dict([*top, (token, logprob)]).items():
                word = alternative.strip().upper()
                if not (word.startswith(prefix) and word.endswith(suffix)):
                    continue
                letter = _TOKENS.get(word[len(prefix) : len(word) - len(suffix)].lower())
                if letter is not None and math.isfinite(alt_logprob):
                    mass[letter] += math.exp(min(alt_logprob, 0.0))
            total = sum(mass.values())
            if total <= 0:
                return None
            shown_first = (mass["A"] + mass["C"] / 2) / total
            return shown_first if order == JudgeVote.Order.AB else 1.0 - shown_first
        position += len(token)
    return None


def verdict_canonical(*, token: str | None, order: str) -> str:
    """A shown-order verdict token -> the stored verdict relative to the pair's A/B order."""
    if token is None:
        return JudgeVote.Verdict.UNPARSEABLE
    if token == "C":
        return JudgeVote.Verdict.TIE
    first_is_a = order == JudgeVote.Order.AB
    if token == "A":
        return JudgeVote.Verdict.A if first_is_a else JudgeVote.Verdict.B
    return JudgeVote.Verdict.B if first_is_a else JudgeVote.Verdict.A


def judge_template_validate(template: str) -> None:
    missing = [p for p in PLACEHOLDERS if p not in template]
    if missing:
        raise JudgingError(f"the judge prompt template lacks {', '.join(missing)}")


def study_judge_prompts(study: Study) -> tuple[str, str]:
    """The study's judge instructions and message template; empty fields mean MT-Bench's."""
    system = study.judge_system_prompt if study.judge_system_prompt.strip() else JUDGE_SYSTEM_PROMPT
    template = study.judge_prompt_template
    return system, template if template.strip() else JUDGE_PROMPT_TEMPLATE


def judge_messages(
    *, study: Study, question: str, reference: str, answer_a: str, answer_b: str
) -> list[dict[str, str]]:
    """The judge's messages for one pair in one order (answer_a is shown as Assistant A).

    Placeholders are replaced literally, not with str.format, so braces in a prompt or an
    answer (code, JSON) are left alone.
    """
    system, template = study_judge_prompts(study)
    judge_template_validate(template)
    values = {"{question}": question, "{reference}": reference, "{answer_a}": answer_a,
              "{answer_b}": answer_b}  # fmt: skip
    pattern = re.compile("|".join(re.escape(k) for k in values))
    content = pattern.sub(lambda m: values[m.group(0)], template)
    return [{"role": "system", "content": system}, {"role": "user", "content": content}]


def judge_request_params(judge: Judge) -> dict:
    try:
        return model_request_params(
            extra_params=judge.extra_params,
            temperature=judge.temperature,
            max_tokens=judge.max_tokens,
        )
    except ValueError as exc:
        raise JudgingError(f"judge {judge.model}: {exc}") from None


TOP_LOGPROBS = 5


def judge_logprob_params(judge: Judge) -> dict:
    """Ask for the verdict token's log-probabilities (verdict_probability) where LiteLLM says
    the provider and model take them: others (reasoning models, Anthropic) refuse the
    parameters. A judge whose extra_params set `logprobs` decides for itself."""
    if "logprobs" in (judge.extra_params or {}):
        return {}
    from evaluations.providers.llm_loading import litellm_loaded

    try:
        supported = litellm_loaded().get_supported_openai_params(model=judge.model) or []
    except Exception:  # noqa: BLE001 - a provider LiteLLM cannot place: ask for nothing extra
        return {}
    if "logprobs" in supported and "top_logprobs" in supported:
        return {"logprobs": True, "top_logprobs": TOP_LOGPROBS}
    return {}


def judge_deployment_authorized(judge: Judge, *, owner: object) -> Deployment:
    """The judge's deployment as the operator's rules allow it (``provider_access``)."""
    deployment = Deployment(
        judge.api_base.strip(), judge.api_key_env.strip(), judge.connection.strip()
    )
    try:
        return deployment_authorize(deployment, owner=owner)
    except ProviderAccessRefused as exc:
        raise JudgingError(f"judge {judge.model}: {exc}") from None


def judge_request_hash(*, judge: Judge, params: dict, messages: list[dict]) -> str:
    identity = {"judge": judge.model, "api_base": judge.api_base, "params": params,
                "messages": messages}  # fmt: skip
    if judge.connection:
        identity["connection"] = judge.connection
    canonical = json.dumps(
        identity,
        sort_keys=True,
        separators=(",", ":"),
    )  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()
