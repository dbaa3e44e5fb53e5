"""Which providers can take a study's outputs through a batch API, and their size limits.

Decided from the model string alone (no LiteLLM import: the admin checks it when a candidate is
saved). Only providers whose whole cycle (upload, create, poll, read the result files) tastetest
runs and tests are listed; any other is refused for batch mode at save, not at generation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchLimits:
    max_requests: int  # lines per batch
    max_file_bytes: int  # size of the uploaded request file


# OpenAI's documented limits: 50,000 requests and 200 MB per batch input file.
BATCH_PROVIDERS: dict[str, BatchLimits] = {
    "openai": BatchLimits(max_requests=50_000, max_file_bytes=200 * 1024 * 1024),
    "demo": BatchLimits(max_requests=50_000, max_file_bytes=200 * 1024 * 1024),
}
# Bare model names LiteLLM routes to OpenAI.
_OPENAI_BARE_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-")


def model_batch_provider(model: str) -> str | None:
    """The provider that would run ``model`` in batch mode, or None if none can."""
    name = model.strip()
    if "/" in name:
        provider = name.split("/", 1)[0].lower()
        return provider if provider in BATCH_PROVIDERS else None
    return "openai" if name.lower().startswith(_OPENAI_BARE_PREFIXES) else None


def batch_mode_errors(model: str) -> dict[str, list[str]]:
    """Field -> why ``model`` cannot be generated in batch mode (empty if it can)."""
    if model_batch_provider(model) is not None:
        return {}
    provider = model.split("/", 1)[0] if "/" in model else model
    supported = ", ".join(f"{name}/" for name in BATCH_PROVIDERS)
    return {
        "generation_mode": [
            f"{provider!r} has no batch API that tastetest can use; batch mode takes "
            f"{supported} models. Choose live generation for this candidate."
        ]
    }


def batch_limits(model: str) -> BatchLimits:
    provider = model_batch_provider(model)
    if provider is None:
        raise ValueError(f"{model!r} has no batch support")
    return BATCH_PROVIDERS[provider]
