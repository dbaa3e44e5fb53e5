"""Generation: candidates answer prompts through LiteLLM; outputs scrubbed and paired."""
