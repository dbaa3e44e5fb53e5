"""LiteLLM, imported and configured on first use by a call site that talks to a provider.

Importing LiteLLM costs seconds of CPU; the web process's settings, URLs and admin, and
commands that call no provider (``analyze``, ``help``), never pay it.
"""

from __future__ import annotations

from functools import cache


@cache
def litellm_loaded():
    import litellm

    from evaluations.providers.demo_provider import demo_provider_register

    litellm.suppress_debug_info = True
    # The app calls nothing but a candidate's own endpoint: LiteLLM would otherwise download a
    # Hugging Face tokenizer for some model names ("llama-3"), retrying for seconds per call
    # without internet (settings also set LITELLM_OFFLINE_MODE and LITELLM_LOCAL_MODEL_COST_MAP).
    litellm.disable_hf_tokenizer_download = True
    demo_provider_register()
    return litellm
