"""What is sent to a provider for an output: deployments, parameters, messages, the request hash."""

from __future__ import annotations

import hashlib
import json

from evaluations.generation.errors import GenerationError
from evaluations.models import Candidate, Prompt
from evaluations.providers.access import (
    Deployment,
    ProviderAccessRefused,
    deployment_authorize,
)

RESERVED_PARAMS = {
    "model",
    "messages",
    "stream",
    "stream_options",
    "api_base",
    "base_url",
    "api_key",
    "fallbacks",
    "num_retries",
    "max_retries",
    "timeout",
    "n",
    "mock_response",
    "input_cost_per_token",  # from the candidate's price fields
    "output_cost_per_token",
    # Where a request goes and with which credentials is the operator's (provider_access):
    # LiteLLM builds some providers' host names from these, or takes credentials from them.
    "model_list",
    "azure_endpoint",
    "azure_ad_token",
    "aws_bedrock_runtime_endpoint",
    "aws_sts_endpoint",
    "aws_region_name",
    "aws_role_name",
    "aws_web_identity_token",
    "vertex_location",
    "vertex_ai_location",
    "vertex_project",
    "vertex_ai_project",
    "vertex_credentials",
    "vertex_ai_credentials",
}
DEPLOYMENT_KEYS = {"api_base", "api_key_env", "connection", "model"}


def candidate_deployments(candidate: Candidate) -> list[Deployment]:
    """The primary deployment and its fallbacks, all serving the candidate's one model."""
    deployments = [
        Deployment(
            candidate.api_base.strip(), candidate.api_key_env.strip(), candidate.connection.strip()
        )
    ]
    fallbacks = candidate.fallback_deployments or []
    if not isinstance(fallbacks, list):
        raise GenerationError(f"{candidate.label}: fallback_deployments must be a list of objects")
    for index, entry in enumerate(fallbacks, start=1):
        if not isinstance(entry, dict):
            raise GenerationError(f"{candidate.label}: fallback {index} is not an object")
        unknown = set(entry) - DEPLOYMENT_KEYS
        if unknown:
            raise GenerationError(
                f"{candidate.label}: fallback {index} has unknown keys {sorted(unknown)}; "
                f"allowed: connection, or api_base and api_key_env"
            )
        if entry.get("model", candidate.model) != candidate.model:
            raise GenerationError(
                f"{candidate.label}: fallback {index} names model {entry['model']!r}; a fallback "
                f"may only be another deployment of {candidate.model!r}, never another model"
            )
        deployment = Deployment(
            str(entry.get("api_base") or "").strip(),
            str(entry.get("api_key_env") or "").strip(),
            str(entry.get("connection") or "").strip(),
        )
        if deployment in deployments:
            raise GenerationError(f"{candidate.label}: fallback {index} repeats a deployment")
        deployments.append(deployment)
    return deployments


def candidate_deployments_authorized(candidate: Candidate, *, owner: object) -> list[Deployment]:
    """The candidate's deployments as the operator's rules allow them for the study's owner
    (``provider_access``); GenerationError naming the rule otherwise."""
    try:
        return [deployment_authorize(d, owner=owner) for d in candidate_deployments(candidate)]
    except ProviderAccessRefused as exc:
        raise GenerationError(f"{candidate.label}: {exc}") from None


def model_request_params(
    *, extra_params: object, temperature: float | None, max_tokens: int | None
) -> dict:
    """A candidate's or judge's request parameters: its extra_params, then its temperature and
    max_tokens. ValueError when extra_params is not an object or sets what the app sets."""
    extra = extra_params or {}
    if not isinstance(extra, dict):
        raise ValueError("extra_params must be an object")
    reserved = RESERVED_PARAMS & set(extra)
    if reserved:
        raise ValueError(f"extra_params may not set {', '.join(sorted(reserved))}")
    params = dict(extra)
    if temperature is not None:
        params["temperature"] = temperature
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    return params


def candidate_request_params(candidate: Candidate) -> dict:
    try:
        return model_request_params(
            extra_params=candidate.extra_params,
            temperature=candidate.temperature,
            max_tokens=candidate.max_tokens,
        )
    except ValueError as exc:
        raise GenerationError(f"{candidate.label}: {exc}") from None


def output_messages(*, candidate: Candidate, prompt: Prompt) -> list[dict]:
    if prompt.messages or prompt.turns:
        from evaluations.generation.conversation_requests import conversation_messages

        return conversation_messages(candidate=candidate, prompt=prompt)
    messages = []
    if candidate.system_prompt.strip():
        messages.append({"role": "system", "content": candidate.system_prompt})
    content = f"{prompt.context}\n\n{prompt.text}" if prompt.context.strip() else prompt.text
    messages.append({"role": "user", "content": content})
    return messages


def request_hash(*, candidate: Candidate, params: dict, messages: list[dict]) -> str:
    """Identity of a request for the cache: model, pinned version, deployment, params, messages."""
    identity = {
        "model": candidate.model,
        "version": candidate.version,
        "api_base": candidate.api_base,
        "params": params,
        "messages": messages,
    }
    if candidate.connection:
        identity["connection"] = candidate.connection
    canonical = json.dumps(
        identity,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def served_model_mismatch(*, version: str, model: str, served: str) -> bool:
    """True when the provider reports serving a model other than the pinned version.

    A provider that echoes the requested model name tells us nothing, so that is not flagged.
    """
    if not version.strip() or not served.strip():
        return False

    def norm(value: str) -> str:
        return value.strip().lower().rsplit("/", 1)[-1]

    return norm(served) not in {norm(version), norm(model)}
