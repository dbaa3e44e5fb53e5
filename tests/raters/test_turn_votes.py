"""Issue 16: a study voted turn by turn. Each vote records its turn, turns are voted in order
and once each, the pair's place is taken once, and the panel shows the next turn."""

import itertools

import pytest
from django.core.cache import cache
from django.urls import reverse

from evaluations.models import Candidate, Output, Pair, Prompt, Study
from raters.assignment import assignment_next, assignment_skip
from raters.models import Assignment, Vote
from raters.pair_loads import pair_load_exact, study_pair_loads_recount
from raters.progress import rater_progress
from raters.voting import VoteRejected, vote_record, vote_undo, votes_delete
from tests.factories import StudyFactory
from tests.raters.conftest import join

TURNS = ["Write a haiku about rain.", "Make it sadder.", "Now give it a title."]


def scripted_study(*, n_prompts: int = 2, n_candidates: int = 2, **fields: object) -> Study:
    """An open study of 3-turn scripted conversations, voted turn by turn unless told."""
    fields.setdefault("vote_each_turn", True)
    study = StudyFactory(status=Study.Status.OPEN, **fields)
    candidates = [
        Candidate.objects.create(study=study, label=f"Cand-{i}", model=f"openai/m{i}")
        for i in range(n_candidates)
    ]
    for p in range(n_prompts):
        prompt = Prompt.objects.create(
            study=study, external_id=f"q{p}", text=TURNS[0], turns=TURNS, category="writing"
        )
        outputs = []
        for i, c in enumerate(candidates):
            answers = [f"Reply {k + 1} number {i} to q{p}" for k in range(len(TURNS))]
            outputs.append(
                Output.objects.create(
                    prompt=prompt,
                    candidate=c,
                    status=Output.Status.DONE,
                    text="\n\n".join(answers),
                    turns=[{"text": a, "raw_text": a} for a in answers],
                )
            )
        for a, b in itertools.combinations(outputs, 2):
            Pair.objects.create(study=study, prompt=prompt, output_a=a, output_b=b)
    return study


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


@pytest.mark.django_db
def test_each_turn_is_recorded_in_order_and_the_pair_takes_one_place():
    study = scripted_study(n_prompts=1, votes_per_pair=2)
    rater = join(study)
    pair = assignment_next(rater=rater, study=study).pair
    for turn, side in zip((1, 2, 3), ("A", "B", "tie"), strict=True):
        outcome = vote_record(
            rater=rater, study=study, public_id=pair.public_id, side_choice=side, turn=turn
        )
        assert outcome.created and outcome.vote.turn == turn
        assert outcome.turn_count == 3
    assert sorted(Vote.objects.values_list("turn", flat=True)) == [1, 2, 3]
    pair.refresh_from_db()
    assert pair.load == pair_load_exact(pair) == 1
    assert study_pair_loads_recount(study=study) == 0
    assert rater_progress(rater=rater, study=study).voted == 1


@pytest.mark.django_db
def test_a_turn_cannot_be_voted_twice_nor_out_of_order():
    study = scripted_study(n_prompts=1)
    rater = join(study)
    public_id = assignment_next(rater=rater, study=study).pair.public_id
    with pytest.raises(VoteRejected):
        vote_record(rater=rater, study=study, public_id=public_id, side_choice="A", turn=2)
    first = vote_record(rater=rater, study=study, public_id=public_id, side_choice="A", turn=1)
    again = vote_record(rater=rater, study=study, public_id=public_id, side_choice="B", turn=1)
    assert not again.created and again.vote.pk == first.vote.pk
    with pytest.raises(VoteRejected):
        vote_record(rater=rater, study=study, public_id=public_id, side_choice="A", turn=3)
    vote_record(rater=rater, study=study, public_id=public_id, side_choice="A", turn=2)
    repeat = vote_record(rater=rater, study=study, public_id=public_id, side_choice="B", turn=2)
    assert not repeat.created
    with pytest.raises(VoteRejected):
        vote_record(rater=rater, study=study, public_id=public_id, side_choice="A", turn=4)
    assert Vote.objects.filter(rater=rater).count() == 2


@pytest.mark.django_db
def test_the_database_refuses_a_second_vote_on_the_same_pair_and_turn():
    from django.db import IntegrityError, transaction

    study = scripted_study(n_prompts=1)
    rater = join(study)
    pair = assignment_next(rater=rater, study=study).pair
    vote = vote_record(
        rater=rater, study=study, public_id=pair.public_id, side_choice="A", turn=1
    ).vote
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(**_copy(vote), turn=1)
    Vote.objects.create(**_copy(vote), turn=None)  # a whole-conversation vote: once too
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(**_copy(vote), turn=None)


def _copy(vote: Vote) -> dict:
    return {
        "study": vote.study,
        "pair_id": vote.pair_id,
        "rater": vote.rater,
        "choice": "a",
        "left_output_id": vote.left_output_id,
    }


@pytest.mark.django_db
def test_a_study_voted_per_conversation_records_no_turn():
    study = scripted_study(n_prompts=1, vote_each_turn=False)
    rater = join(study)
    public_id = assignment_next(rater=rater, study=study).pair.public_id
    outcome = vote_record(rater=rater, study=study, public_id=public_id, side_choice="A", turn=2)
    assert outcome.created and outcome.vote.turn is None


@pytest.mark.django_db
def test_undo_of_a_later_turn_keeps_the_place_and_of_the_first_gives_the_reservation_back():
    study = scripted_study(n_prompts=1)
    rater = join(study)
    pair = assignment_next(rater=rater, study=study).pair
    for turn in (1, 2):
        vote_record(rater=rater, study=study, public_id=pair.public_id, side_choice="A", turn=turn)
    vote_undo(rater=rater, study=study)
    assignment = Assignment.objects.get(rater=rater, pair=pair)
    assert assignment.state == Assignment.State.VOTED
    pair.refresh_from_db()
    assert pair.load == pair_load_exact(pair) == 1
    vote_undo(rater=rater, study=study)
    assignment.refresh_from_db()
    assert assignment.state == Assignment.State.RESERVED
    pair.refresh_from_db()
    assert pair.load == pair_load_exact(pair) == 1
    assert not Vote.objects.exists()


@pytest.mark.django_db
def test_skipping_the_rest_of_a_conversation_keeps_its_first_turn_vote_and_place():
    study = scripted_study(n_prompts=2)
    rater = join(study)
    pair = assignment_next(rater=rater, study=study).pair
    vote_record(rater=rater, study=study, public_id=pair.public_id, side_choice="A", turn=1)
    assert assignment_skip(rater=rater, study=study, public_id=pair.public_id)
    pair.refresh_from_db()
    assert pair.load == pair_load_exact(pair) == 1
    assert assignment_next(rater=rater, study=study).pair != pair


@pytest.mark.django_db
def test_discarding_turn_votes_gives_the_place_back_once():
    study = scripted_study(n_prompts=1)
    rater = join(study)
    pair = assignment_next(rater=rater, study=study).pair
    for turn in (1, 2, 3):
        vote_record(rater=rater, study=study, public_id=pair.public_id, side_choice="A", turn=turn)
    assert votes_delete(Vote.objects.filter(rater=rater)) == 3
    pair.refresh_from_db()
    assert pair.load == pair_load_exact(pair) == 0


@pytest.mark.django_db(transaction=True)
def test_the_panel_walks_the_turns_with_the_keyboard_flow_in_few_queries(
    client, django_assert_max_num_queries
):
    study = scripted_study(n_prompts=2, votes_per_pair=1)
    rater = join(study)
    client.force_login(rater.user)
    page = client.get(reverse("raters:study", args=[study.pk])).content.decode()
    assert 'name="turn" value="1"' in page and "Turn 1 of 3:" in page
    assert TURNS[1] not in page, "later turns stay hidden until earlier ones are voted"
    url = reverse("raters:vote", args=[study.pk])
    first_pair = Assignment.objects.get(rater=rater).pair.public_id
    for turn in (1, 2, 3):
        with django_assert_max_num_queries(6):
            response = client.post(
                url,
                {"pair": first_pair, "choice": "A", "turn": str(turn), "time_spent_ms": "3000"},
                headers={"X-Requested-With": "fetch"},
            )
        body = response.content.decode()
        assert "Vote recorded." in body
        if turn < 3:
            assert f'name="turn" value="{turn + 1}"' in body and first_pair in body
            assert TURNS[turn] in body
        else:
            assert 'name="turn" value="1"' in body and first_pair not in body
    assert list(Vote.objects.order_by("turn").values_list("turn", flat=True)) == [1, 2, 3]
    # A reload between turns comes back to the pending turn.
    second_pair = Assignment.objects.get(rater=rater, state=Assignment.State.RESERVED).pair
    client.post(url, {"pair": second_pair.public_id, "choice": "B", "turn": "1"})
    page = client.get(reverse("raters:study", args=[study.pk])).content.decode()
    assert second_pair.public_id in page and 'name="turn" value="2"' in page
    assert rater_progress(rater=rater, study=study).voted == 2
    assert "Cand-" not in page


@pytest.mark.django_db
def test_any_turn_a_rater_posts_gives_a_clear_answer_and_never_breaks_the_order(client):
    """Raters are not trusted: whatever turn they post (out of order, past the end, not a
    number), the answer is a page, never a 500, and turns are recorded in order or not at all."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    study = scripted_study(n_prompts=1, votes_per_pair=1)
    rater = join(study)
    client.force_login(rater.user)
    url = reverse("raters:vote", args=[study.pk])
    public_id = assignment_next(rater=rater, study=study).pair.public_id
    turns = st.one_of(
        st.integers(min_value=-5, max_value=2000).map(str),
        st.text(max_size=8),
        st.just(""),
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(turn=turns, choice=st.sampled_from(["A", "B", "tie", "both_bad", "nope"]))
    def post(turn: str, choice: str) -> None:
        response = client.post(
            url,
            {"pair": public_id, "choice": choice, "turn": turn},
            headers={"X-Requested-With": "fetch"},
        )
        assert response.status_code == 200
        recorded = list(Vote.objects.filter(rater=rater).order_by("turn"))
        assert [v.turn for v in recorded] == list(range(1, len(recorded) + 1))
        assert len(recorded) <= len(TURNS)

    post()


@pytest.mark.django_db
def test_a_gold_pair_is_voted_once_whatever_turn_is_posted():
    study = scripted_study(n_prompts=1)
    rater = join(study)
    pair = Pair.objects.get(study=study)
    Pair.objects.filter(pk=pair.pk).update(gold_answer="a")
    Study.objects.filter(pk=study.pk).update(gold_rate=1.0)
    study.refresh_from_db()
    assert assignment_next(rater=rater, study=study).pair == pair
    outcome = vote_record(rater=rater, study=study, public_id=pair.public_id, side_choice="A")
    assert outcome.created and outcome.vote.turn is None
    again = vote_record(rater=rater, study=study, public_id=pair.public_id, side_choice="A", turn=2)
    assert not again.created and again.vote.turn is None
    assert Vote.objects.filter(rater=rater).count() == 1
