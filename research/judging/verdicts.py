"""Judge prompts and verdicts: the messages a judge is sent, how its answer is read."""

from __future__ import annotations

import hashlib
import json
import re

from evaluations.generation.requests import RESERVED_PARAMS
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


def verdict_parse(text: str) -> str | None:
    """The judge's verdict as "A", "B" or "C" (tie), or None when it gave none.

    The last MT-Bench token ([[A]], [[B]], [[C]]; [[Tie]] too) wins, so an explanation that
    quotes the format before concluding is read by its conclusion. Without such a token, a last
    line that is only a verdict ("[B]", "Verdict: tie") is accepted. Anything else is None.
    """
    tokens = _DOUBLE.findall(text or "")
    if tokens:
        return _TOKENS[tokens[-1].lower()]
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if lines:
        match = _LAST_LINE.match(lines[-1])
        if match:
            return _TOKENS[match.group(1).lower()]
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
    extra = judge.extra_params or {}
    if not isinstance(extra, dict):
        raise JudgingError(f"judge {judge.model}: extra_params must be an object")
    reserved = RESERVED_PARAMS & set(extra)
    if reserved:
        raise JudgingError(
            f"judge {judge.model}: extra_params may not set {', '.join(sorted(reserved))}"
        )
    params = dict(extra)
    if judge.temperature is not None:
        params["temperature"] = judge.temperature
    if judge.max_tokens is not None:
        params["max_tokens"] = judge.max_tokens
    return params


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
