"""A provider's Files and Batch APIs through LiteLLM (``acreate_file``, ``acreate_batch``,
``alist_batches``, ``aretrieve_batch``, streamed ``afile_content``, ``acancel_batch``), under the
same deployment checks as a live call: where the request may go and which key may go with it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from evaluations.providers import demo_batches
from evaluations.providers.access import Deployment, deployment_call_kwargs
from evaluations.providers.batch_support import model_batch_provider
from evaluations.providers.llm_loading import litellm_loaded

KEY_METADATA = "tastetest_key"
ENDPOINT = "/v1/chat/completions"
DOWNLOAD_CHUNK_BYTES = 256 * 1024
# LiteLLM's success logging of a retrieve that finds a batch completed downloads the whole
# output file to price it (litellm_logging: handle_completed_batch): a second download, held in
# memory. tastetest prices each line itself (batch_ingest), so that logging is turned off.
NO_COST_LOGGING = {"batch_ignore_default_logging": True}


class BatchApiError(Exception):
    """The provider refused or failed a Files/Batch API request."""


@dataclass(frozen=True)
class BatchState:
    id: str
    status: str  # the provider's: validating, in_progress, finalizing, completed, failed, ...
    output_file_id: str
    error_file_id: str
    total: int
    completed: int
    failed: int


def _demo(model: str) -> bool:
    return model_batch_provider(model) == "demo"


def _demo_state(batch: dict) -> BatchState:
    return BatchState(
        id=batch["id"],
        status=batch["status"],
        output_file_id=batch["output_file_id"],
        error_file_id=batch["error_file_id"],
        total=batch["total"],
        completed=batch["completed"],
        failed=batch["failed"],
    )


def _state(batch: object) -> BatchState:
    counts = getattr(batch, "request_counts", None)
    return BatchState(
        id=batch.id,
        status=str(batch.status),
        output_file_id=getattr(batch, "output_file_id", None) or "",
        error_file_id=getattr(batch, "error_file_id", None) or "",
        total=getattr(counts, "total", 0) or 0,
        completed=getattr(counts, "completed", 0) or 0,
        failed=getattr(counts, "failed", 0) or 0,
    )


async def _call_kwargs(deployment: Deployment, model: str) -> dict:
    kwargs: dict = {"custom_llm_provider": model_batch_provider(model) or "openai"}
    kwargs.update(await deployment_call_kwargs(deployment, model=model))
    if deployment.api_key_env:
        key = os.environ.get(deployment.api_key_env)
        if not key:
            raise BatchApiError(f"environment variable {deployment.api_key_env} is not set")
        kwargs["api_key"] = key
    return kwargs


def _wrapped(exc: Exception) -> BatchApiError:
    text = str(exc).replace("litellm.", "").strip() or type(exc).__name__
    return BatchApiError(f"{type(exc).__name__}: {text}"[:2000])


async def batch_file_upload(deployment: Deployment, model: str, path: Path) -> str:
    if _demo(model):
        return demo_batches.demo_file_upload(path)
    kwargs = await _call_kwargs(deployment, model)
    try:
        with path.open("rb") as file:
            created = await litellm_loaded().acreate_file(
                file=(path.name, file, "application/jsonl"), purpose="batch", **kwargs
            )
    except Exception as exc:  # noqa: BLE001 - LiteLLM raises many types; reported as one
        raise _wrapped(exc) from exc
    return created.id


async def batch_create(
    deployment: Deployment, model: str, *, input_file_id: str, key: str
) -> BatchState:
    if _demo(model):
        return _demo_state(
            demo_batches.demo_batch_create(
                input_file_id=input_file_id, key_metadata={KEY_METADATA: key}
            )
        )
    kwargs = await _call_kwargs(deployment, model)
    try:
        created = await litellm_loaded().acreate_batch(
            completion_window="24h",
            endpoint=ENDPOINT,
            input_file_id=input_file_id,
            metadata={KEY_METADATA: key},
            **kwargs,
        )
    except Exception as exc:  # noqa: BLE001
        raise _wrapped(exc) from exc
    return _state(created)


async def batch_find(deployment: Deployment, model: str, *, key: str) -> BatchState | None:
    """The batch created with ``key`` among the provider's most recent 100, if any."""
    if _demo(model):
        for batch in demo_batches.demo_batches_list():
            if batch["metadata"].get(KEY_METADATA) == key:
                return _demo_state(batch)
        return None
    kwargs = await _call_kwargs(deployment, model)
    try:
        listed = await litellm_loaded().alist_batches(limit=100, **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise _wrapped(exc) from exc
    for batch in getattr(listed, "data", None) or []:
        if (getattr(batch, "metadata", None) or {}).get(KEY_METADATA) == key:
            return _state(batch)
    return None


async def batch_retrieve(deployment: Deployment, model: str, batch_id: str) -> BatchState:
    if _demo(model):
        return _demo_state(demo_batches.demo_batch_retrieve(batch_id))
    kwargs = await _call_kwargs(deployment, model)
    try:
        retrieved = await litellm_loaded().aretrieve_batch(
            batch_id=batch_id, litellm_metadata=NO_COST_LOGGING, **kwargs
        )
    except Exception as exc:  # noqa: BLE001
        raise _wrapped(exc) from exc
    return _state(retrieved)


async def batch_cancel(deployment: Deployment, model: str, batch_id: str) -> BatchState:
    if _demo(model):
        return _demo_state(demo_batches.demo_batch_cancel(batch_id))
    kwargs = await _call_kwargs(deployment, model)
    try:
        return _state(await litellm_loaded().acancel_batch(batch_id=batch_id, **kwargs))
    except Exception as exc:  # noqa: BLE001
        raise _wrapped(exc) from exc


async def batch_file_download(deployment: Deployment, model: str, file_id: str, path: Path) -> int:
    """Write a result file to ``path`` as it arrives (LiteLLM's streamed ``afile_content``), a
    chunk at a time, never the whole file in memory. Returns the bytes written."""
    if _demo(model):
        return demo_batches.demo_file_copy(file_id, path)
    kwargs = await _call_kwargs(deployment, model)
    written = 0
    try:
        result = await litellm_loaded().afile_content(
            file_id=file_id, stream=True, chunk_size=DOWNLOAD_CHUNK_BYTES, **kwargs
        )
        stream = result.stream_iterator
        try:
            with path.open("wb") as file:
                async for chunk in stream:
                    file.write(chunk)
                    written += len(chunk)
        finally:
            await stream.aclose()
    except Exception as exc:  # noqa: BLE001
        raise _wrapped(exc) from exc
    return written


def batch_prices(
    model: str, *, price_in: Decimal | None, price_out: Decimal | None, discount: Decimal
) -> tuple[Decimal | None, Decimal | None]:
    """USD per million tokens at batch price: LiteLLM's batch prices where it has them, else
    the live price (the candidate's, or LiteLLM's) less ``discount``. (None, None) if unknown."""
    keep = Decimal(1) - discount
    if price_in is not None or price_out is not None:
        return ((price_in or Decimal(0)) * keep, (price_out or Decimal(0)) * keep)
    litellm = litellm_loaded()
    name = model.split("/", 1)[1] if "/" in model else model
    info = litellm.model_cost.get(model) or litellm.model_cost.get(name)
    if not info:
        return None, None
    million = Decimal(1_000_000)
    batch_in, batch_out = (
        info.get("input_cost_per_token_batches"),
        info.get("output_cost_per_token_batches"),
    )
    if batch_in is not None or batch_out is not None:
        return Decimal(str(batch_in or 0)) * million, Decimal(str(batch_out or 0)) * million
    live_in, live_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if live_in is None and live_out is None:
        return None, None
    return (
        Decimal(str(live_in or 0)) * million * keep,
        Decimal(str(live_out or 0)) * million * keep,
    )


def live_prices(
    model: str, *, price_in: Decimal | None, price_out: Decimal | None
) -> tuple[Decimal | None, Decimal | None]:
    """USD per million tokens at the live price, for the saving shown beside the batch cost."""
    return (
        batch_prices(model, price_in=price_in, price_out=price_out, discount=Decimal(0))
        if (price_in is not None or price_out is not None)
        else _litellm_live(model)
    )


def _litellm_live(model: str) -> tuple[Decimal | None, Decimal | None]:
    litellm = litellm_loaded()
    name = model.split("/", 1)[1] if "/" in model else model
    info = litellm.model_cost.get(model) or litellm.model_cost.get(name) or {}
    live_in, live_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if live_in is None and live_out is None:
        return None, None
    million = Decimal(1_000_000)
    return Decimal(str(live_in or 0)) * million, Decimal(str(live_out or 0)) * million
