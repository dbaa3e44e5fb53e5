"""What a model can take, as LiteLLM's model table knows it."""

from evaluations.providers.llm_loading import litellm_loaded


def model_accepts_images(model: str) -> bool | None:
    """True or False where LiteLLM knows the model, None where it does not (an OpenAI-compatible
    endpoint, a model newer than its table)."""
    litellm = litellm_loaded()
    try:
        info = litellm.get_model_info(model)
    except Exception:  # noqa: BLE001 - LiteLLM raises several kinds for a model it does not map
        return None
    # The table lists the capability only where a model has it.
    return bool(info.get("supports_vision"))
