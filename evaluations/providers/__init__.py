"""Provider access: which endpoint and key a model string may reach, LiteLLM loading."""
