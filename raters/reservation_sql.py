"""Reserving the next pair on PostgreSQL in two statements, inside the caller's transaction.

The ORM path in raters.assignment takes seven round trips to reserve a pair (a lapsed-reservation
probe, the candidates locked, the rater's model pairs, the pair's counts, the insert, the load
update, the texts). Here the first statement locks the candidates with the rater's model-pair
counts and the lapsed probe as columns; the second recounts the chosen pair (a new snapshot, so
it sees every reservation committed meanwhile), inserts the reservation if the pair is below
target on the side fewer of its raters saw on the left, writes the exact load back (repairing a
stale one), and returns the texts the panel shows. The invariants are raters.assignment's.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from evaluations.models import Output, Pair, Prompt, Study
from raters.models import Assignment, Rater, Vote


@dataclass(frozen=True)
class Candidate:
    pair_id: int
    output_a_id: int
    output_b_id: int
    load: int
    model_pair: tuple[int, int]
    seen_model_pair: int  # this rater's regular assignments on the same two candidates


def _tables() -> dict[str, str]:
    q = connection.ops.quote_name
    return {
        "assignment": q(Assignment._meta.db_table),
        "pair": q(Pair._meta.db_table),
        "output": q(Output._meta.db_table),
        "prompt": q(Prompt._meta.db_table),
        "vote": q(Vote._meta.db_table),
    }


def _pool_sql() -> str:
    t = _tables()
    return f"""
WITH seen AS MATERIALIZED (
    SELECT LEAST(oa.candidate_id, ob.candidate_id) AS lo,
           GREATEST(oa.candidate_id, ob.candidate_id) AS hi, COUNT(*) AS n
    FROM {t["assignment"]} a
    JOIN {t["pair"]} p ON p.id = a.pair_id
    JOIN {t["output"]} oa ON oa.id = p.output_a_id
    JOIN {t["output"]} ob ON ob.id = p.output_b_id
    WHERE a.rater_id = %(rater)s AND a.study_id = %(study)s AND a.is_gold = false
    GROUP BY 1, 2
)
SELECT p.id, p.output_a_id, p.output_b_id, p."load", oa.candidate_id, ob.candidate_id,
       COALESCE((SELECT s.n FROM seen s
                 WHERE s.lo = LEAST(oa.candidate_id, ob.candidate_id)
                   AND s.hi = GREATEST(oa.candidate_id, ob.candidate_id)), 0),
       EXISTS (SELECT 1 FROM {t["assignment"]} x
               WHERE x.study_id = %(study)s AND x.state = %(reserved)s AND x.is_gold = false
                 AND x.expires_at <= %(now)s)
FROM {t["pair"]} p
JOIN {t["output"]} oa ON oa.id = p.output_a_id
JOIN {t["output"]} ob ON ob.id = p.output_b_id
WHERE p.study_id = %(study)s AND p.gold_answer = '' AND p."load" < %(target)s
  AND NOT EXISTS (SELECT 1 FROM {t["assignment"]} y WHERE y.rater_id = %(rater)s AND y.pair_id = p.id)
ORDER BY p."load", p.id
LIMIT %(pool)s
FOR UPDATE OF p SKIP LOCKED
"""


def candidates_lock(
    *, study: Study, rater: Rater, now: datetime, limit: int
) -> tuple[list[Candidate], bool]:
    """Lock up to `limit` open regular pairs the rater never had, fewest load first, skipping
    pairs others hold locked. Also says whether any reservation in the study has lapsed."""
    params = {
        "rater": rater.pk,
        "study": study.pk,
        "reserved": Assignment.State.RESERVED.value,
        "now": now,
        "target": study.votes_per_pair,
        "pool": limit,
    }
    with connection.cursor() as cursor:
        cursor.execute(_pool_sql(), params)
        rows = cursor.fetchall()
    candidates = [
        Candidate(
            pair_id=pair_id,
            output_a_id=output_a_id,
            output_b_id=output_b_id,
            load=load,
            model_pair=(min(ca, cb), max(ca, cb)),
            seen_model_pair=seen,
        )
        for pair_id, output_a_id, output_b_id, load, ca, cb, seen, _ in rows
    ]
    return candidates, bool(rows and rows[0][7])


def _reserve_sql() -> str:
    t = _tables()
    return f"""
WITH counts AS MATERIALIZED (
    SELECT (SELECT COUNT(*) FROM {t["vote"]} WHERE pair_id = %(pair)s)
         + (SELECT COUNT(*) FROM {t["assignment"]}
            WHERE pair_id = %(pair)s AND state = %(reserved)s) AS n_load,
           (SELECT COUNT(*) FROM {t["assignment"]}
            WHERE pair_id = %(pair)s AND left_output_id = %(a)s) AS on_a,
           (SELECT COUNT(*) FROM {t["assignment"]}
            WHERE pair_id = %(pair)s AND left_output_id = %(b)s) AS on_b
), inserted AS (
    INSERT INTO {t["assignment"]}
        (study_id, pair_id, rater_id, left_output_id, state, is_gold, expires_at, shown_at,
         skipped_at, created_at)
    SELECT %(study)s, %(pair)s, %(rater)s,
           CASE WHEN c.on_a < c.on_b THEN %(a)s WHEN c.on_b < c.on_a THEN %(b)s ELSE %(coin)s END,
           %(reserved)s, false, %(expires)s, %(now)s, NULL, %(now)s
    FROM counts c WHERE c.n_load < %(target)s
    ON CONFLICT (rater_id, pair_id) DO NOTHING
    RETURNING id, left_output_id
), repaired AS (
    UPDATE {t["pair"]}
    SET "load" = (SELECT n_load FROM counts) + (SELECT COUNT(*) FROM inserted)
    WHERE id = %(pair)s
    RETURNING "load"
)
SELECT i.id, i.left_output_id, (SELECT "load" FROM repaired), p.public_id, p.prompt_id,
       pr.text, pr.context, oa.text, ob.text
FROM inserted i
CROSS JOIN {t["pair"]} p
JOIN {t["prompt"]} pr ON pr.id = p.prompt_id
JOIN {t["output"]} oa ON oa.id = p.output_a_id
JOIN {t["output"]} ob ON ob.id = p.output_b_id
WHERE p.id = %(pair)s
"""


def pair_reserve_with_texts(
    *,
    study: Study,
    rater: Rater,
    candidate: Candidate,
    coin_output_id: int,
    now: datetime,
    expires_at: datetime,
) -> Assignment | None:
    """Reserve the locked candidate for the rater if, recounted, it is below target; the
    assignment comes with its pair, prompt and outputs (their texts only) loaded.

    None if the pair is full (its stored load is repaired) or already theirs (another tab).
    """
    params = {
        "study": study.pk,
        "rater": rater.pk,
        "pair": candidate.pair_id,
        "a": candidate.output_a_id,
        "b": candidate.output_b_id,
        "coin": coin_output_id,
        "reserved": Assignment.State.RESERVED.value,
        "target": study.votes_per_pair,
        "now": now,
        "expires": expires_at,
    }
    with connection.cursor() as cursor:
        cursor.execute(_reserve_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    assignment_id, left_output_id, load, public_id, prompt_id, *texts = row
    prompt_text, prompt_context, text_a, text_b = texts
    db = connection.alias
    prompt = Prompt.from_db(db, ["id", "text", "context"], [prompt_id, prompt_text, prompt_context])
    output_a = Output.from_db(db, ["id", "text"], [candidate.output_a_id, text_a])
    output_b = Output.from_db(db, ["id", "text"], [candidate.output_b_id, text_b])
    pair = Pair.from_db(
        db,
        ["id", "study_id", "prompt_id", "output_a_id", "output_b_id", "public_id", "gold_answer"]
        + ["load"],
        [candidate.pair_id, study.pk, prompt_id, output_a.pk, output_b.pk, public_id, "", load],
    )
    pair.prompt, pair.output_a, pair.output_b = prompt, output_a, output_b
    assignment = Assignment(
        id=assignment_id,
        study=study,
        pair=pair,
        rater=rater,
        left_output_id=left_output_id,
        state=Assignment.State.RESERVED,
        is_gold=False,
        expires_at=expires_at,
        shown_at=now,
        skipped_at=None,
        created_at=now,
    )
    assignment._state.adding = False
    assignment._state.db = db
    return assignment
