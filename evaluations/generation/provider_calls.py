"""One call to a provider through LiteLLM, and what its errors, retries and cost mean."""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from evaluations.generation.errors import EmptyAnswer, MissingKey
from evaluations.generation.provider_errors import transport_error
from evaluations.providers.access import (
    Deployment,
    ProviderAccessRefused,
    deployment_call_kwargs,
)
from evaluations.providers.llm_loading import litellm_loaded
from evaluations.providers.outbound import OutboundRefused, OutboundUnresolved

ERROR_LIMIT = 2000


# -- running --------------------------------------------------------------------------------


@dataclass
class ProviderJob:
    output_id: int
    study_id: int
    limiter_key: str
    model: str
    version: str
    deployments: list[Deployment]
    params: dict
    messages: list[dict]
    request_hash: str
    max_concurrency: int
    requests_per_minute: int | None
    price_in: Decimal | None
    price_out: Decimal | None
    terms: tuple[str, ...]
    cached_from: int | None = None
    # A scripted conversation: the user's turns, and the turns already answered (a resume).
    scripted_turns: list[str] = field(default_factory=list)
    answered: list[dict] = field(default_factory=list)


@dataclass
class ProviderAnswer:
    text: str
    served_model: str
    latency_ms: float
    ttft_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    # (token, logprob, [(alternative, logprob), ...]) per output token, when the request asked
    # for log-probabilities and the provider returned them (judges read their verdict's).
    token_logprobs: list[tuple[str, float, list[tuple[str, float]]]] = field(default_factory=list)


def _field(item: object, name: str) -> object:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def logprob_entries(logprobs: object) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """A choice's `logprobs` (object or dict, OpenAI's shape) as plain tuples; malformed
    entries are skipped, never trusted."""
    if logprobs is None:
        return []
    entries = []
    for item in _field(logprobs, "content") or ():
        token, logprob = _field(item, "token"), _field(item, "logprob")
        if not isinstance(token, str) or not isinstance(logprob, int | float):
            continue
        top = [
            (_field(alt, "token"), float(_field(alt, "logprob")))
            for alt in _field(item, "top_logprobs") or ()
            if isinstance(_field(alt, "token"), str)
            and isinstance(_field(alt, "logprob"), int | float)
        ]
        entries.append((token, float(logprob), top))
    return entries


async def provider_call(job: ProviderJob, deployment: Deployment) -> ProviderAnswer:
    kwargs = {
        **job.params,
        "model": job.model,
        "messages": job.messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "timeout": settings.GENERATION_TIMEOUT_SECONDS,
        # Retries are ours (counted, backed off, Retry-After honoured); none underneath.
        "num_retries": 0,
        "max_retries": 0,
    }
    if job.price_in is not None or job.price_out is not None:
        # LiteLLM prices every response itself; given the price, it skips its search for a
        # model it does not know (about 1.5 ms of CPU per call) and logs the right cost.
        kwargs["input_cost_per_token"] = float(job.price_in or 0) / 1_000_000
        kwargs["output_cost_per_token"] = float(job.price_out or 0) / 1_000_000
    # Checked again here, whatever the rows said when saved: where the request may go, and
    # which key may go with it.
    kwargs.update(await deployment_call_kwargs(deployment, model=job.model))
    if deployment.api_key_env:
        key = os.environ.get(deployment.api_key_env)
        if not key:
            raise MissingKey(f"environment variable {deployment.api_key_env} is not set")
        kwargs["api_key"] = key
    parts: list[str] = []
    logprobs: list[tuple[str, float, list[tuple[str, float]]]] = []
    served = ""
    usage = None
    ttft: float | None = None
    # aiohttp is loaded with the first call, like LiteLLM, not by every process importing this.
    from evaluations.generation.request_timing import RequestMarks, request_marks, timed_session

    marks = RequestMarks()
    request_marks.set(marks)
    kwargs["shared_session"] = timed_session()
    start = time.perf_counter()
    async with asyncio.timeout(settings.GENERATION_TIMEOUT_SECONDS):
        stream = await litellm_loaded().acompletion(**kwargs)
        async for chunk in stream:
            # LiteLLM reports the requested name in chunk.model; what the provider said it
            # served is kept in the hidden params.
            hidden = getattr(chunk, "_hidden_params", None) or {}
            served = hidden.get("provider_response_model") or served or (chunk.model or "")
            for choice in chunk.choices or ():
                content = choice.delta.content if choice.delta else None
                if content:
                    if ttft is None:
                        arrived = marks.read_so_far_received() or time.perf_counter()
                        ttft = (arrived - (marks.sent or start)) * 1000
                    parts.append(content)
                if job.params.get("logprobs"):
                    logprobs += logprob_entries(getattr(choice, "logprobs", None))
            chunk_usage = getattr(chunk, "usage", None)
            if chunk_usage:
                usage = chunk_usage
    # From the request written to the answer's last byte received, when the call went through
    # our session (a custom provider, like the demo's, sends nothing: the call's own time).
    latency = ((marks.last_received or time.perf_counter()) - (marks.sent or start)) * 1000
    text = "".join(parts)
    if not text.strip():
        raise EmptyAnswer("the provider returned no text")
    return ProviderAnswer(
        text=text,
        served_model=served,
        latency_ms=latency,
        ttft_ms=ttft,
        input_tokens=getattr(usage, "prompt_tokens", None) if usage else None,
        output_tokens=getattr(usage, "completion_tokens", None) if usage else None,
        token_logprobs=logprobs,
    )


def error_is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | EmptyAnswer | OutboundUnresolved):
        return True
    if isinstance(exc, MissingKey | ProviderAccessRefused | OutboundRefused):
        return False
    litellm = litellm_loaded()
    transient_types = (
        litellm.RateLimitError,
        litellm.Timeout,
        litellm.APIConnectionError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
    )
    if isinstance(exc, transient_types):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status in (408, 409, 425, 429) or status >= 500)


def retry_after_seconds(exc: BaseException) -> float | None:
    candidates = [
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "headers", None),
        getattr(exc, "litellm_response_headers", None),
    ]
    for headers in candidates:
        if not headers:
            continue
        try:
            millis = headers.get("retry-after-ms")
            if millis:
                return float(millis) / 1000
            value = headers.get("retry-after")
        except AttributeError:
            continue
        if not value:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            return max(0.0, (when - timezone.now()).total_seconds())
    return None


def retry_backoff(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with equal jitter, never sooner than the server's Retry-After."""
    ceiling = min(
        settings.GENERATION_RETRY_MAX_SECONDS,
        settings.GENERATION_RETRY_BASE_SECONDS * 2 ** (attempt - 1),
    )
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max(settings.GENERATION_RETRY_MAX_SECONDS, 300)))
    return delay


def error_message(exc: BaseException, deployment: Deployment, attempt: int) -> str:
    transport = transport_error(exc)
    if transport is not None:
        # No server answered: LiteLLM's "HTTP 500" would blame one.
        return f"attempt {attempt} on {deployment.label}: {transport}"[:ERROR_LIMIT]
    status = getattr(exc, "status_code", None)
    text = str(exc).replace("litellm.", "").strip() or type(exc).__name__
    prefix = f"attempt {attempt} on {deployment.label}: {type(exc).__name__}"
    if isinstance(status, int):
        prefix += f" (HTTP {status})"
    return f"{prefix}: {text}"[:ERROR_LIMIT]


def call_cost(
    job: ProviderJob, input_tokens: int | None, output_tokens: int | None
) -> Decimal | None:
    if input_tokens is None and output_tokens is None:
        return None
    tokens_in, tokens_out = input_tokens or 0, output_tokens or 0
    if job.price_in is not None or job.price_out is not None:
        return (
            Decimal(tokens_in) * (job.price_in or Decimal(0))
            + Decimal(tokens_out) * (job.price_out or Decimal(0))
        ) / Decimal(1_000_000)
    try:
        prompt_cost, completion_cost = litellm_loaded().cost_per_token(
            model=job.model, prompt_tokens=tokens_in, completion_tokens=tokens_out
        )
    except Exception:  # noqa: BLE001 - LiteLLM raises several types for an unknown model
        return None
    return Decimal(str(prompt_cost + completion_cost)).quantize(Decimal("1e-8"))
