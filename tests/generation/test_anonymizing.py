import pytest

from evaluations.anonymizing import NEUTRAL_TOKEN, study_terms, text_scrub

TERMS = study_terms(
    labels=["House model", "Friendly (demo)"],
    models=["openai/gpt-4.1-mini", "demo/friendly", "hosted_vllm/acme-chat-7b"],
    versions=["gpt-4.1-mini-2025-04-14"],
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("As an AI developed by OpenAI, I cannot browse.", "As an AI developed by [model], I"),
        ("I'm Claude, an AI assistant made by Anthropic.", "I'm [model], an AI assistant made by"),
        ("I am ChatGPT.", "I am [model]."),
        ("I am a large language model trained by Google.", "trained by [model]."),
        ("As Gemini 1.5 Pro, I can help.", "As [model], I can help."),
        ("Meta's AI assistant here: Llama 3.1 70B.", "[model]'s AI assistant here: [model]."),
        ("I was built by the team at Mistral AI.", "built by the team at [model]."),
        ("I'm demo/friendly, your assistant.", "I'm [model], your assistant."),
        ("Running acme-chat-7b locally.", "Running [model] locally."),
        ("This is gpt-4.1-mini-2025-04-14 speaking.", "This is [model] speaking."),
        ("Greetings from the House model.", "Greetings from the [model]."),
    ],
)
def test_self_identification_is_replaced_with_a_neutral_token(text, expected):
    result = text_scrub(text, terms=TERMS)
    assert expected in result.text
    assert result.flagged


@pytest.mark.parametrize(
    "text",
    [
        "Sign in to your Google account and open Settings.",
        "Write a friendly reply that declines the discount.",
        "The llama is a domesticated South American camelid.",
        "Apple and Microsoft both publish security advisories.",
        "These ideas cohere well; grok the basics first.",
        "Refunds made by bank transfer take five days.",
    ],
)
def test_ordinary_text_that_mentions_companies_is_left_alone(text):
    result = text_scrub(text, terms=TERMS)
    assert result.text == text
    assert not result.flagged


def test_scrubbing_reports_what_it_found():
    result = text_scrub("I'm Claude by Anthropic.", terms=())
    assert result.found == ("Claude", "Anthropic")
    assert result.text.count(NEUTRAL_TOKEN) == 2


def test_an_ordinary_word_as_model_name_is_not_a_study_term():
    terms = study_terms(labels=[], models=["demo/friendly", "ollama/llama3.2:3b"])
    assert "friendly" not in terms
    assert "llama3.2:3b" in terms and "demo/friendly" in terms
