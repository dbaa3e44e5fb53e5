"""Whatever a JSONL line holds in messages, turns or system, the parse answers with reasons,
never an exception (which the admin would show as a 500)."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluations.studies.conversations import ROLES, conversation_parse
from evaluations.studies.prompt_media import MediaRefused

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
parts = st.one_of(
    json_values,
    st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "file", "x"])}).flatmap(
        lambda base: st.fixed_dictionaries(
            {**{k: st.just(v) for k, v in base.items()}},
            optional={"text": json_values, "image_url": json_values, "file": json_values},
        )
    ),
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from([*ROLES, "tool", 3, None]),
            "content": st.one_of(json_values, st.lists(parts, max_size=3)),
        }
    )
    | json_values,
    max_size=4,
)


def missing_file(name: str) -> bytes:
    raise MediaRefused(f"{name!r} is not in the zip")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    row=st.fixed_dictionaries(
        {},
        optional={
            "messages": messages | json_values,
            "turns": json_values,
            "system": json_values,
            "text": json_values,
        },
    ).filter(lambda row: "messages" in row or "turns" in row)
)
def test_a_conversation_line_is_parsed_or_refused_with_reasons_never_raises(row):
    conversation, errors = conversation_parse(row, missing_file)
    assert all(isinstance(e, str) and e for e in errors)
    if not errors:
        assert conversation.turns or conversation.messages
        for message in conversation.messages:
            assert message["role"] in ROLES
            assert all(p["type"] in {"text", "image", "file"} for p in message["content"])
