"""The rules behind the quality flags, against peer libraries and their SQL twins."""

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from raters.models import Membership, Vote
from raters.reading_time import answer_words_sql, text_words
from raters.speed import membership_flags_update
from raters.straight_lining import ALPHA, MIN_VOTES, SideCounts, binomial_two_sided_p
from tests.quality.test_rater_flags import long_answers, vote_n
from tests.raters.conftest import join, study_with_pairs


@pytest.mark.parametrize("n", [1, 2, 9, 10, 11, 14, 37, 100])
def test_the_binomial_p_value_is_scipys_exact_two_sided_test(n):
    for k in range(n + 1):
        assert binomial_two_sided_p(k, n) == pytest.approx(binomtest(k, n, 0.5).pvalue, rel=1e-9)


def test_eleven_of_eleven_on_one_side_is_the_fewest_that_flags():
    assert not any(SideCounts(k, MIN_VOTES - k).p_value < ALPHA for k in range(MIN_VOTES + 1))
    assert SideCounts(11, 0).p_value < ALPHA


def test_words_count_runs_between_spaces_and_each_chinese_or_japanese_character():
    assert text_words("Two  words\n") == 2
    assert text_words("答えは42です") == 1 + 5  # one run, five Han or kana characters
    assert text_words("中文 text") == 3
    assert text_words("") == 0


@pytest.mark.django_db
@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.sampled_from(list("ab1 \t\n\r\x0b\x0c\u3000\xa0中文かナ한")),
            st.characters(codec="utf-8", exclude_characters="\x00"),
        ),
        max_size=80,
    )
)
def test_the_sql_word_count_is_the_python_one(text):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {answer_words_sql('%s')}", [text])
        assert cursor.fetchone()[0] == text_words(text)


@pytest.mark.django_db
def test_the_full_recount_agrees_with_the_flag_written_while_voting():
    study = study_with_pairs(n_prompts=10, n_candidates=3)
    long_answers(study, 120)  # 20 s
    raters = [join(study) for _ in range(4)]
    vote_n(raters[0], study, 12, 5.0)
    vote_n(raters[1], study, 12, 30.0, sides="B")
    vote_n(raters[2], study, 12, 30.0)
    vote_n(raters[3], study, 12, 5.0, sides="A")
    written = list(
        Membership.objects.filter(study=study).order_by("pk").values_list("flagged", "flag_reason")
    )
    Membership.objects.filter(study=study).update(flagged=False, flag_reason="")
    for rater in raters:
        membership_flags_update(rater=rater, study=study)
    recounted = list(
        Membership.objects.filter(study=study).order_by("pk").values_list("flagged", "flag_reason")
    )
    assert recounted == written
    assert [flagged for flagged, _ in written] == [True, True, False, True]


@pytest.mark.django_db
def test_votes_stored_without_their_side_are_read_through_their_pair():
    study = study_with_pairs(n_prompts=8, n_candidates=3)
    rater = join(study)
    vote_n(rater, study, 10, 30.0, sides="A")  # ten: not yet enough to flag
    Vote.objects.filter(rater=rater).update(picked_left=None)  # as bulk writers leave them
    assert not Membership.objects.get(rater=rater, study=study).flagged
    vote_n(rater, study, 1, 30.0, sides="A")
    assert (
        "11 of 11 decisive votes for the left"
        in Membership.objects.get(rater=rater, study=study).flag_reason
    )
