"""Recording a vote on a held reservation on PostgreSQL in one statement.

raters.voting's ORM path reads the assignment, turns it into a vote in a transaction and then
reads the rater's latest vote times for the speed flag: three round trips and a transaction.
Here one statement does the common case: the rater's reservation of the pair (found by its
public id) turns VOTED only if it is still RESERVED, the vote row is inserted only if that
happened, and the same statement returns what the caller needs to decide the rest: the
assignment's state as found, whether the rater holds another reservation, their latest decisive
vote times (before this vote) and their stored flag. Anything else (not theirs, a repeat,
skipped, lapsed, a lost race) writes nothing and is left to the ORM path.

In a study voted turn by turn the first turn's vote is written as above; a later turn's vote is
inserted only if the pair's assignment is VOTED, the rater's votes on the pair number the turn
before it and the turn exists (the unique (pair, rater, turn) constraint settles any race). A
gold pair is voted once, whatever the study's mode.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from evaluations.models import Output, Pair, Prompt, Study
from raters.judgments import Answer
from raters.models import Assignment, CriterionVote, Membership, Rater, Vote
from raters.prepared_sql import prepared_cursor
from raters.reading_time import answer_words_sql
from raters.speed import SPEED_RECENT_VOTES, RecentVote

# A client-reported time longer than the server saw the pair is a clock or a forgery.
TIME_SLACK_MS = 5_000


@dataclass(frozen=True)
class HeldVote:
    vote: Vote | None  # None: nothing was written (see the module's docstring)
    state: str  # the assignment's state as found
    holds_another: bool
    is_gold: bool
    recent: list[RecentVote]  # the rater's latest decisive votes before this one, newest first
    stored_flagged: bool | None  # None without a membership
    stored_reason: str
    turns_voted: int = 0  # the rater's votes on the pair before this one
    turn_count: int = 1  # the pair's turns (its prompt's scripted turns, else 1)


def _sql() -> str:
    q = connection.ops.quote_name
    assignment, pair = q(Assignment._meta.db_table), q(Pair._meta.db_table)
    output, vote = q(Output._meta.db_table), q(Vote._meta.db_table)
    membership, prompt = q(Membership._meta.db_table), q(Prompt._meta.db_table)
    criterion_vote = q(CriterionVote._meta.db_table)
    return f"""
WITH held AS MATERIALIZED (
    SELECT a.id, a.pair_id, a.left_output_id, a.state, a.shown_at,
           p.output_a_id, p.output_b_id, p.prompt_id, p.gold_answer,
           oa.candidate_id AS ca, ob.candidate_id AS cb,
           {answer_words_sql("oa.text")} + {answer_words_sql("ob.text")} AS answer_words,
           GREATEST(0, FLOOR(EXTRACT(EPOCH FROM (%(now)s - a.shown_at)) * 1000))::bigint AS seen_ms,
           EXISTS (SELECT 1 FROM {assignment} x
                   WHERE x.rater_id = %(rater)s AND x.study_id + 0 = %(study)s
                     AND x.state = %(reserved)s AND x.id <> a.id) AS holds_another,
           (SELECT COUNT(*) FROM {vote} t
            WHERE t.pair_id = a.pair_id AND t.rater_id = %(rater)s) AS turns_voted,
           GREATEST(1, jsonb_array_length(pr.turns)) AS turn_count
    FROM {assignment} a
    JOIN {pair} p ON p.id = a.pair_id
    JOIN {prompt} pr ON pr.id = p.prompt_id
    JOIN {output} oa ON oa.id = p.output_a_id
    JOIN {output} ob ON ob.id = p.output_b_id
    -- The pair by its public id, then the rater's assignment of it by (rater, pair); "+ 0"
    -- keeps every look-up of the rater's rows on an index led by rater_id, never on study_id
    -- (the whole study's rows: the planner's pick while statistics predate the study's votes).
    WHERE a.rater_id = %(rater)s
      AND a.pair_id = (SELECT id FROM {pair} WHERE public_id = %(public_id)s)
      AND a.study_id + 0 = %(study)s
), decided AS MATERIALIZED (
    SELECT h.*,
           CASE WHEN %(side)s IN ('tie', 'both_bad') THEN %(side)s
                WHEN (%(side)s = 'A') = (h.left_output_id = h.output_a_id) THEN %(choice_a)s
                ELSE %(choice_b)s END AS choice,
           CASE WHEN %(reported)s::bigint IS NULL OR %(reported)s::bigint < 0
                     OR %(reported)s::bigint > h.seen_ms + %(slack)s THEN h.seen_ms
                ELSE %(reported)s::bigint END AS time_spent_ms,
           CASE WHEN h.gold_answer <> '' THEN NULL
                ELSE %(turn)s::smallint END AS turn,
           CASE WHEN %(side)s IN ('A', 'B') THEN %(side)s = 'A' END AS picked_left
    FROM held h
), voted AS (
    UPDATE {assignment} SET state = %(voted)s
    FROM decided d
    WHERE {assignment}.id = d.id AND {assignment}.state = %(reserved)s
      AND COALESCE(d.turn, 1) = 1
    RETURNING {assignment}.id
), recorded AS (
    INSERT INTO {vote}
        (study_id, pair_id, rater_id, choice, left_output_id, time_spent_ms, rationale,
         created_at, candidate_a_id, candidate_b_id, prompt_id, turn, strength, answer_words,
         picked_left)
    SELECT %(study)s, d.pair_id, %(rater)s, d.choice, d.left_output_id, d.time_spent_ms,
           %(rationale)s, %(now)s, d.ca, d.cb, d.prompt_id, d.turn, %(strength)s::smallint,
           d.answer_words, d.picked_left
    FROM decided d LEFT JOIN voted ON voted.id = d.id
    WHERE voted.id IS NOT NULL
       OR (d.turn >= 2 AND d.state = %(voted)s AND d.turns_voted = d.turn - 1
           AND d.turn <= d.turn_count)
    ON CONFLICT DO NOTHING
    RETURNING id
), judged AS (
    -- The criteria's answers of the same submission, oriented like the vote. A data-modifying
    -- CTE runs to completion whether or not the query reads it.
    INSERT INTO {criterion_vote} (vote_id, criterion, choice, strength)
    SELECT r.id, c.criterion,
           CASE WHEN c.side IN ('tie', 'both_bad') THEN c.side
                WHEN (c.side = 'A') = (d.left_output_id = d.output_a_id) THEN %(choice_a)s
                ELSE %(choice_b)s END,
           c.strength
    FROM recorded r CROSS JOIN decided d
    CROSS JOIN unnest(%(criteria)s::text[], %(criterion_sides)s::text[],
                      %(criterion_strengths)s::smallint[]) AS c(criterion, side, strength)
)
SELECT d.id, d.pair_id, d.left_output_id, d.state, d.output_a_id, d.output_b_id, d.prompt_id,
       d.gold_answer, d.ca, d.cb, d.holds_another, d.choice, d.time_spent_ms,
       d.turn, d.turns_voted, d.turn_count,
       (SELECT id FROM recorded),
       (SELECT m.flagged FROM {membership} m
        WHERE m.rater_id = %(rater)s AND m.study_id = %(study)s),
       (SELECT m.flag_reason FROM {membership} m
        WHERE m.rater_id = %(rater)s AND m.study_id = %(study)s),
       d.answer_words, recent.times, recent.words, recent.lefts
FROM decided d
CROSS JOIN LATERAL (
    SELECT array_agg(r.time_spent_ms ORDER BY r.created_at DESC, r.id DESC) AS times,
           array_agg(r.answer_words ORDER BY r.created_at DESC, r.id DESC) AS words,
           array_agg(r.picked_left ORDER BY r.created_at DESC, r.id DESC) AS lefts
    FROM (SELECT v.id, v.created_at, v.time_spent_ms, v.answer_words,
                 COALESCE(v.picked_left,
                          (SELECT (v.choice = %(choice_a)s) = (v.left_output_id = vp.output_a_id)
                           FROM {pair} vp WHERE vp.id = v.pair_id)) AS picked_left
          FROM {vote} v
          WHERE v.rater_id = %(rater)s AND v.study_id + 0 = %(study)s
            AND v.choice IN (%(choice_a)s, %(choice_b)s)
          ORDER BY v.created_at DESC, v.id DESC LIMIT %(recent)s) r
) recent
"""


def held_vote_record(
    *,
    rater: Rater,
    study: Study,
    public_id: str,
    side_choice: str,
    rationale: str,
    time_spent_ms: int | None,
    now: datetime,
    strength: int | None = None,
    criteria: dict[str, Answer] | None = None,
    turn: int | None = None,
) -> HeldVote | None:
    """Turn the rater's held reservation of the pair into their vote, in one statement.

    The caller has checked that the study is open and the choice allowed. None when the pair
    is not assigned to the rater in this study (nothing was written). turn: the turn voted on
    in a study voted turn by turn, else None.
    """
    params = {
        "rater": rater.pk,
        "study": study.pk,
        "public_id": public_id,
        "side": side_choice,
        "choice_a": Vote.Choice.A.value,
        "choice_b": Vote.Choice.B.value,
        "reported": time_spent_ms,
        "slack": TIME_SLACK_MS,
        "reserved": Assignment.State.RESERVED.value,
        "voted": Assignment.State.VOTED.value,
        "rationale": rationale,
        "now": now,
        "recent": SPEED_RECENT_VOTES,
        "strength": strength,
        "criteria": list(criteria or {}),
        "criterion_sides": [answer.side for answer in (criteria or {}).values()],
        "criterion_strengths": [answer.strength for answer in (criteria or {}).values()],
        "turn": turn,
    }
    with prepared_cursor() as cursor:
        cursor.execute(_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    (_, pair_id, left_output_id, state, output_a_id, output_b_id, prompt_id, gold_answer) = row[:8]
    (ca, cb, holds_another, choice, spent_ms, vote_turn, turns_voted, turn_count) = row[8:16]
    (vote_id, flagged, reason, words) = row[16:20]
    times, recent_words, lefts = (value or [] for value in row[20:])
    vote = None
    if vote_id is not None:
        pair = Pair.from_db(
            connection.alias,
            ["id", "study_id", "prompt_id", "output_a_id", "output_b_id", "gold_answer"],
            [pair_id, study.pk, prompt_id, output_a_id, output_b_id, gold_answer],
        )
        vote = Vote(
            id=vote_id,
            study=study,
            pair=pair,
            rater=rater,
            choice=choice,
            left_output_id=left_output_id,
            time_spent_ms=spent_ms,
            rationale=rationale,
            created_at=now,
            strength=strength,
            candidate_a_id=ca,
            candidate_b_id=cb,
            prompt_id=prompt_id,
            turn=vote_turn,
            answer_words=words,
            picked_left={"A": True, "B": False}.get(side_choice),
        )
        vote._state.adding = False
        vote._state.db = connection.alias
    return HeldVote(
        vote=vote,
        state=state,
        holds_another=holds_another,
        is_gold=gold_answer != "",
        recent=[
            RecentVote(time_ms=t, answer_words=w, picked_left=left)
            for t, w, left in zip(times, recent_words, lefts, strict=True)
        ],
        stored_flagged=flagged,
        stored_reason=reason or "",
        turns_voted=turns_voted,
        turn_count=turn_count,
    )
