import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluations.anonymity.scrubbing import NEUTRAL_TOKEN, study_terms, text_scrub

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


def test_an_ordinary_word_as_model_name_is_left_in_place_but_flagged_for_review():
    terms = study_terms(labels=[], models=["demo/friendly", "ollama/llama3.2:3b"])
    result = text_scrub("Write a friendly reply that declines the discount.", terms=terms)
    assert result.text == "Write a friendly reply that declines the discount."
    assert result.needs_review and result.review == ("friendly",)
    assert not result.flagged


def test_every_part_of_a_model_string_is_a_study_term_regardless_of_length():
    terms = study_terms(labels=[], models=["openai/o3", "openai/zephyr", "ollama/llava"])
    for text in [
        "Answer from o3 to: how do I reset my password?",
        "Answer from zephyr to: what is a refund?",
        "Answer from llava to: describe the picture.",
    ]:
        result = text_scrub(text, terms=terms)
        assert result.text.startswith("Answer from [model] to: "), result.text
        assert result.flagged


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This answer was written by GPT\u20114o.", "This answer was written by [model]."),
        ("I am Cl\u200baude, happy to help.", "I am [model], happy to help."),
        ("I am \uff43\uff4c\uff41\uff55\uff44\uff45, happy to help.", "I am [model], happy"),
        ("I am C l a u d e, happy to help.", "I am [model], happy to help."),
        ("I am Cl\u0430ude, happy to help.", "I am [model], happy to help."),  # Cyrillic a
        ("I am C\u2067laude\u2069.", "I am [model]\u2069."),
        ("I am Chat\u00adGPT.", "I am [model]."),
    ],
)
def test_unicode_spellings_of_a_name_are_scrubbed(text, expected):
    result = text_scrub(text, terms=())
    assert expected in result.text
    assert result.flagged


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I am Phi, a Microsoft model.", "I am [model], a [model] model."),
        ("I am OLMo, by AI2.", "I am [model], by [model]."),
        ("I am Llama, created by Meta", "I am [model], created by [model]"),
        (
            "我是通义千问，由阿里云开发的大型语言模型。",
            "我是[model]，由[model]开发的大型语言模型。",
        ),
    ],
)
def test_a_self_introduction_loses_both_the_name_and_the_maker(text, expected):
    result = text_scrub(text, terms=())
    assert result.text == expected
    assert result.flagged


def test_scrubbing_keeps_everything_around_a_name_exactly():
    text = "Zero\u200bwidth\u00a0and \uff26\uff55\uff4c\uff4c stay \u2014 I am Cl\u200baude!"
    result = text_scrub(text, terms=())
    assert (
        result.text == "Zero\u200bwidth\u00a0and \uff26\uff55\uff4c\uff4c stay \u2014 I am [model]!"
    )


def test_a_name_left_for_review_can_be_scrubbed_on_request():
    terms = study_terms(labels=[], models=["ollama/phi"])
    result = text_scrub("The golden ratio phi is 1.618.", terms=terms)
    assert result.text == "The golden ratio phi is 1.618." and result.review == ("phi",)
    strict = text_scrub("The golden ratio phi is 1.618.", terms=terms, strict=True)
    assert strict.text == "The golden ratio [model] is 1.618." and strict.flagged


ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT)
def test_scrubbing_any_text_changes_only_what_it_reports(text):
    result = text_scrub(text, terms=TERMS)
    if not result.found:
        assert result.text == text
    else:
        assert result.text.count(NEUTRAL_TOKEN) == text.count(NEUTRAL_TOKEN) + len(result.found)
        pieces = result.text.split(NEUTRAL_TOKEN)
        assert all(piece in text for piece in pieces)


@settings(max_examples=200, deadline=None)
@given(before=ANY_TEXT, after=ANY_TEXT)
def test_a_self_introduction_is_never_missed_whatever_surrounds_it(before, after):
    text = f"{before}\nI am Claude, an assistant by Anthropic.\n{after}"
    result = text_scrub(text, terms=TERMS)
    assert "\nI am [model], an assistant by [model].\n" in result.text
