from typing import Any

from django import template

from evaluations.models import Study

register = template.Library()


@register.inclusion_tag("admin/evaluations/_judges.html")
def judge_results(study: Study) -> dict[str, Any]:
    """The LLM judges' section of the results page (nothing when the study has no judges)."""
    if not study.judges.exists():
        return {"judging": None}
    from research.judging.results import study_judge_results  # scipy: loaded on first use

    return {"judging": study_judge_results(study=study), "compact": False}
