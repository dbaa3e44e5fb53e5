from django import forms
from django.contrib.auth.forms import UserCreationForm

from raters.voting import MAX_RATIONALE_CHARS, SIDE_CHOICES

# The overall answer: a side, or with Study.ask_strength a side and 1 (slightly) or 2 (much).
ANSWER_TOKENS = sorted(SIDE_CHOICES | {"A1", "A2", "B1", "B2"})


class JoinForm(UserCreationForm):
    """A new rater: the name researchers see, a username to sign in with, a password."""

    display_name = forms.CharField(
        max_length=100, label="Your name", help_text="Shown to the researcher, not to anyone else."
    )

    class Meta(UserCreationForm.Meta):
        fields = ("display_name", "username")


class VoteForm(forms.Form):
    pair = forms.CharField(max_length=32)
    choice = forms.ChoiceField(choices=[(c, c) for c in ANSWER_TOKENS])
    rationale = forms.CharField(required=False, max_length=MAX_RATIONALE_CHARS)
    time_spent_ms = forms.IntegerField(required=False, min_value=0, max_value=86_400_000)
    # Voting turn by turn: the turn shown (checked against the rater's votes on the pair).
    turn = forms.IntegerField(required=False, min_value=1, max_value=1000)


class PairForm(forms.Form):
    pair = forms.CharField(max_length=32)
