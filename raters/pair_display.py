"""What the pair's template (raters/_pair.html) shows: the study's instructions, the prompt or
conversation and the two answers on the sides given, rendered safe; never a model's identity."""

from evaluations.models import Pair, Study
from raters.conversation_view import conversation_pair_view
from raters.rendering import markdown_render


def pair_display_context(*, study: Study, pair: Pair, left_output_id: int) -> dict:
    left, right = (
        (pair.output_a, pair.output_b)
        if left_output_id == pair.output_a_id
        else (pair.output_b, pair.output_a)
    )
    context = {
        "pair_id": pair.public_id,
        "prompt_html": markdown_render(pair.prompt.text),
        "context_html": markdown_render(pair.prompt.context) if pair.prompt.context else "",
        "answer_a_html": markdown_render(left.text),
        "answer_b_html": markdown_render(right.text),
        "instructions_html": markdown_render(study.instructions) if study.instructions else "",
    }
    if pair.prompt.is_conversation:
        context["conversation"] = conversation_pair_view(pair.prompt, left, right)
    return context
