"""The offline demo provider answers whatever message list it is sent (hostile shapes too)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from evaluations.providers.demo_provider import demo_answer, demo_prompt_tokens

texts = st.text(max_size=40)
parts = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": texts}),
    st.fixed_dictionaries(
        {
            "type": st.just("image_url"),
            "image_url": st.one_of(
                texts,
                st.fixed_dictionaries(
                    {"url": st.one_of(texts, st.just("data:image/png;base64,iVBORw0KGgo="))}
                ),
            ),
        }
    ),  # fmt: skip
    st.fixed_dictionaries({"type": st.just("file"), "file": st.dictionaries(texts, texts)}),
    st.dictionaries(texts, texts),
    texts,
    st.none(),
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["system", "user", "assistant", "tool", ""]),
            "content": st.one_of(texts, st.none(), st.lists(parts, max_size=4)),
        }
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(model=st.sampled_from(["demo/concise", "demo/thorough", "demo/friendly", "demo/x"]),
       sent=messages)  # fmt: skip
def test_the_demo_provider_answers_any_message_list_without_raising(model, sent):
    answer = demo_answer(model, sent)
    assert isinstance(answer, str) and answer.strip()
    assert demo_prompt_tokens(sent) >= 0
