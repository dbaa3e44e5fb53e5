"""Issue 20: a study's criteria, edited in the admin as lines "key: question [both bad]"."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from evaluations.studies.criteria import criteria_clean, criteria_format, criteria_parse
from tests.evaluations.test_admin import inline_management
from tests.factories import StudyFactory


def test_criteria_lines_are_parsed_and_written_back_the_same() -> None:
    text = "accuracy: Which is more accurate?\nsafety: Which is safer? [both bad]"
    criteria = criteria_parse(text)
    assert criteria == [
        {"key": "accuracy", "question": "Which is more accurate?", "both_bad": False},
        {"key": "safety", "question": "Which is safer?", "both_bad": True},
    ]
    assert criteria_format(criteria) == text


@pytest.mark.parametrize(
    "text, message",
    [
        ("accuracy Which is more accurate?", "line 1: write it as 'key: question'"),
        ("a: one\na: two", "used twice"),
        ("Accuracy level: x", "lower-case letters"),
        ("overall: x", "not 'overall'"),
        ("\n".join(f"c{k}: q" for k in range(7)), "at most 6"),
    ],
)
def test_a_bad_criteria_text_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        criteria_parse(text)


@given(st.text(max_size=300))
def test_any_text_parses_to_valid_criteria_or_a_validation_error(text: str) -> None:
    try:
        criteria = criteria_parse(text)
    except ValidationError:
        return
    assert criteria_clean(criteria) == criteria


@pytest.mark.django_db
def test_the_study_admin_form_saves_criteria_and_strength(client, staff_user) -> None:
    study = StudyFactory(owner=staff_user)
    client.force_login(staff_user)
    url = reverse("admin:evaluations_study_change", args=[study.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list)}
    data.update(
        {
            "owner": staff_user.pk,
            "criteria": "accuracy: Which is more accurate?\nsafety: Which is safer? [both bad]",
            "ask_strength": "on",
            "allow_tie": "on",
            "allow_both_bad": "on",
            **inline_management("candidates", 0),
            **inline_management("prompts", 0),
            **inline_management("judges", 0),
        }
    )
    data = {k: v for k, v in data.items() if not isinstance(v, bool)} | {
        "ask_strength": "on",
        "cache_enabled": "on",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.context["errors"]
    study.refresh_from_db()
    assert [c["key"] for c in study.criteria] == ["accuracy", "safety"]
    assert study.ask_strength
    data["criteria"] = "no colon here"
    response = client.post(url, data)
    assert response.status_code == 200
    assert "write it as" in response.content.decode()


@pytest.mark.parametrize(
    "asked",
    [{"criteria": [{"key": "accuracy", "question": "More accurate?"}]}, {"ask_strength": True}],
)
def test_voting_each_turn_with_criteria_or_strength_is_refused_with_the_reason(study, asked):
    """Later turns' votes record no criteria or strength, so the two cannot be combined."""
    from django.core.exceptions import ValidationError

    for name, value in {"vote_each_turn": True, **asked}.items():
        setattr(study, name, value)
    with pytest.raises(ValidationError) as refused:
        study.full_clean()
    assert "once per conversation" in " ".join(refused.value.message_dict["vote_each_turn"])
