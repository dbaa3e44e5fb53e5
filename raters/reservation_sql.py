"""Reserving the next regular pair on PostgreSQL in one statement, without a transaction.

The ORM path in raters.assignment takes seven round trips and a transaction to reserve a pair (a
lapsed-reservation probe, the candidates locked, the rater's model pairs, the pair's counts, the
insert, the load update, the texts). Here one statement locks the candidates (SKIP LOCKED),
ranks them as _rank does, reserves the first one that is below target counted exactly, on the
side fewer of its raters saw on the left, writes the exact loads back and returns the texts the
panel shows, with whether any reservation in the study has lapsed. Invariants as in
raters.assignment, with one thing to know about a single statement:

Its counts see the snapshot taken when it started, while the row lock it takes on a pair sees
the pair's latest version (PostgreSQL re-reads a row updated since, READ COMMITTED). Every writer
of reservations and votes moves Pair.load in the same transaction, so the exact load now is the
locked row's load plus the staleness the snapshot shows (counted minus stored, both from the
snapshot): a reservation committed between the snapshot and the lock is in the locked load.
Side counts come from the snapshot: a reservation committed in that window may put one rater
on an already fuller side, which the next reservation of the pair evens out.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from evaluations.models import Output, Pair, Prompt, Study
from raters.models import Assignment, Rater, Vote
from raters.prepared_sql import prepared_cursor


def _tables() -> dict[str, str]:
    q = connection.ops.quote_name
    return {
        "assignment": q(Assignment._meta.db_table),
        "pair": q(Pair._meta.db_table),
        "output": q(Output._meta.db_table),
        "prompt": q(Prompt._meta.db_table),
        "vote": q(Vote._meta.db_table),
    }


def _stable_sql(kind: str) -> str:
    # A seeded 60-bit hash of (kind, study seed, rater, pair), as _stable_int in SQL.
    return (
        f"('x' || substr(md5(concat_ws(':', '{kind}', %(seed)s::text, %(rater)s::text,"
        " p.id::text)), 1, 15))::bit(60)::bigint"
    )


def _reserve_sql() -> str:
    t = _tables()
    return f"""
WITH seen AS MATERIALIZED (
    SELECT LEAST(oa.candidate_id, ob.candidate_id) AS lo,
           GREATEST(oa.candidate_id, ob.candidate_id) AS hi, COUNT(*) AS n
    FROM {t["assignment"]} a
    JOIN {t["pair"]} p ON p.id = a.pair_id
    JOIN {t["output"]} oa ON oa.id = p.output_a_id
    JOIN {t["output"]} ob ON ob.id = p.output_b_id
    -- "+ 0": the rater's own rows, through an index led by rater_id, never the study's
    -- through study_id (the planner's pick when statistics predate the study's votes).
    WHERE a.rater_id = %(rater)s AND a.study_id + 0 = %(study)s AND a.is_gold = false
    GROUP BY 1, 2
), pool AS MATERIALIZED (
    SELECT p.id, p.output_a_id, p.output_b_id, p.prompt_id, p.public_id,
           p."load" AS locked_load,
           LEAST(oa.candidate_id, ob.candidate_id) AS lo,
           GREATEST(oa.candidate_id, ob.candidate_id) AS hi,
           {_stable_sql("order")} AS tiebreak,
           {_stable_sql("side")} %% 2 AS coin
    FROM {t["pair"]} p
    JOIN {t["output"]} oa ON oa.id = p.output_a_id
    JOIN {t["output"]} ob ON ob.id = p.output_b_id
    WHERE p.study_id = %(study)s AND p.gold_answer = '' AND p."load" < %(target)s
      AND NOT EXISTS (SELECT 1 FROM {t["assignment"]} y
                      WHERE y.rater_id = %(rater)s AND y.pair_id = p.id)
    ORDER BY p."load", p.id
    LIMIT %(pool)s
    FOR UPDATE OF p SKIP LOCKED
), counted AS MATERIALIZED (
    SELECT pool.*,
           pool.locked_load
             + (SELECT COUNT(*) FROM {t["vote"]} v
                WHERE v.pair_id = pool.id AND (v.turn IS NULL OR v.turn = 1))
             + (SELECT COUNT(*) FROM {t["assignment"]} r
                WHERE r.pair_id = pool.id AND r.state = %(reserved)s)
             - (SELECT s."load" FROM {t["pair"]} s WHERE s.id = pool.id) AS exact_load,
           COALESCE((SELECT n FROM seen WHERE seen.lo = pool.lo AND seen.hi = pool.hi), 0)
             AS seen_model_pair
    FROM pool
), chosen AS MATERIALIZED (
    SELECT c.*,
           (SELECT COUNT(*) FROM {t["assignment"]} x
            WHERE x.pair_id = c.id AND x.left_output_id = c.output_a_id) AS on_a,
           (SELECT COUNT(*) FROM {t["assignment"]} x
            WHERE x.pair_id = c.id AND x.left_output_id = c.output_b_id) AS on_b
    FROM counted c
    WHERE c.exact_load < %(target)s
    ORDER BY c.locked_load, c.seen_model_pair, c.tiebreak
    LIMIT 1
), inserted AS (
    INSERT INTO {t["assignment"]}
        (study_id, pair_id, rater_id, left_output_id, state, is_gold, expires_at, shown_at,
         skipped_at, created_at)
    SELECT %(study)s, c.id, %(rater)s,
           CASE WHEN c.on_a < c.on_b THEN c.output_a_id
                WHEN c.on_b < c.on_a THEN c.output_b_id
                WHEN c.coin = 0 THEN c.output_a_id
                ELSE c.output_b_id END,
           %(reserved)s, false, %(expires)s, %(now)s, NULL, %(now)s
    FROM chosen c
    ON CONFLICT (rater_id, pair_id) DO NOTHING
    RETURNING id, pair_id, left_output_id
), repaired AS (
    UPDATE {t["pair"]} p
    SET "load" = c.exact_load + (SELECT COUNT(*) FROM inserted i WHERE i.pair_id = c.id)
    FROM counted c
    WHERE p.id = c.id
      AND (c.exact_load <> c.locked_load OR c.id IN (SELECT pair_id FROM inserted))
    RETURNING p.id, p."load"
)
SELECT i.id, i.left_output_id, c.id, c.output_a_id, c.output_b_id, c.prompt_id, c.public_id,
       (SELECT r."load" FROM repaired r WHERE r.id = c.id),
       pr.text, pr.context, oa.text, ob.text,
       pr.study_id, pr.messages, pr.turns, oa.turns, ob.turns,
       EXISTS (SELECT 1 FROM {t["assignment"]} x
               WHERE x.study_id = %(study)s AND x.state = %(reserved)s AND x.is_gold = false
                 AND x.expires_at <= %(now)s)
FROM inserted i
JOIN chosen c ON c.id = i.pair_id
JOIN {t["prompt"]} pr ON pr.id = c.prompt_id
JOIN {t["output"]} oa ON oa.id = c.output_a_id
JOIN {t["output"]} ob ON ob.id = c.output_b_id
"""


@dataclass(frozen=True)
class Reserved:
    assignment: Assignment | None  # with its pair, prompt and outputs (their texts) loaded
    lapsed_seen: bool  # whether a reservation in the study has lapsed, to be reclaimed


def regular_pair_reserve(
    *, study: Study, rater: Rater, now: datetime, expires_at: datetime, pool_size: int
) -> Reserved | None:
    """Reserve the best open regular pair for the rater among the first pool_size unlocked
    candidates. None if none of them was below target, or if the best was theirs already
    (reserved by another tab meanwhile: asking again finds the next)."""
    params = {
        "study": study.pk,
        "rater": rater.pk,
        "seed": study.seed,
        "reserved": Assignment.State.RESERVED.value,
        "target": study.votes_per_pair,
        "pool": pool_size,
        "now": now,
        "expires": expires_at,
    }
    with prepared_cursor() as cursor:
        cursor.execute(_reserve_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    assignment_id, left_output_id, pair_id, output_a_id, output_b_id, prompt_id = row[:6]
    public_id, load, prompt_text, prompt_context, text_a, text_b = row[6:12]
    prompt_study_id, messages, turns, turns_a, turns_b = map(_json, row[12:17])
    lapsed_seen = row[17]
    db = connection.alias
    # Everything the pair's page reads, so that rendering it loads no deferred field.
    prompt = Prompt.from_db(
        db,
        ["id", "study_id", "text", "context", "messages", "turns"],
        [prompt_id, prompt_study_id, prompt_text, prompt_context, messages, turns],
    )
    output_a = Output.from_db(db, ["id", "text", "turns"], [output_a_id, text_a, turns_a])
    output_b = Output.from_db(db, ["id", "text", "turns"], [output_b_id, text_b, turns_b])
    pair = Pair.from_db(
        db,
        ["id", "study_id", "prompt_id", "output_a_id", "output_b_id", "public_id", "gold_answer"]
        + ["load"],
        [pair_id, study.pk, prompt_id, output_a_id, output_b_id, public_id, "", load],
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
    return Reserved(assignment=assignment, lapsed_seen=lapsed_seen)


def _json(value: object) -> object:
    # A raw cursor hands jsonb over as its text (Django decodes it in the ORM's converters).
    return json.loads(value) if isinstance(value, str) else value
