import datetime
import hashlib

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from evaluations.models import (
    Candidate,
    Judge,
    JudgeVote,
    Output,
    Pair,
    Prompt,
    PromptMedia,
    Study,
)
from raters.models import Invite, Membership, Rater, Vote


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("correct horse battery")


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study

    name = factory.Sequence(lambda n: f"Study {n}")
    slug = factory.Sequence(lambda n: f"study-{n}")
    owner = factory.SubFactory(UserFactory, is_staff=True)
    seed = 12345


class CandidateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Candidate

    study = factory.SubFactory(StudyFactory)
    label = factory.Sequence(lambda n: f"Candidate {n}")
    model = factory.Sequence(lambda n: f"openai/model-{n}")
    version = factory.LazyAttribute(lambda c: c.model.split("/")[-1])


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    study = factory.SubFactory(StudyFactory)
    external_id = factory.Sequence(lambda n: f"q{n}")
    text = factory.Sequence(lambda n: f"Question number {n}?")
    category = "general"


class PromptMediaFactory(factory.django.DjangoModelFactory):
    """A stored file of a study's prompts (pass ``data``; set MEDIA_ROOT to a temporary folder)."""

    class Meta:
        model = PromptMedia
        exclude = ("data",)

    study = factory.SubFactory(StudyFactory)
    data = factory.Sequence(lambda n: f"document {n}".encode())
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.data).hexdigest())
    file = factory.LazyAttribute(lambda o: ContentFile(o.data, name=o.sha256))
    content_type = "text/plain"
    size = factory.LazyAttribute(lambda o: len(o.data))
    filename = "notes.txt"


class OutputFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Output

    prompt = factory.SubFactory(PromptFactory)
    candidate = factory.SubFactory(CandidateFactory, study=factory.SelfAttribute("..prompt.study"))
    status = Output.Status.DONE
    text = factory.Sequence(lambda n: f"Answer {n}.")
    raw_text = factory.SelfAttribute("text")


class PairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pair

    study = factory.SubFactory(StudyFactory)
    prompt = factory.SubFactory(PromptFactory, study=factory.SelfAttribute("..study"))
    output_a = factory.SubFactory(OutputFactory, prompt=factory.SelfAttribute("..prompt"))
    output_b = factory.SubFactory(OutputFactory, prompt=factory.SelfAttribute("..prompt"))


class RaterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rater

    user = factory.SubFactory(UserFactory)
    display_name = factory.Sequence(lambda n: f"Rater {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    rater = factory.SubFactory(RaterFactory)
    study = factory.SubFactory(StudyFactory)


class InviteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invite

    study = factory.SubFactory(StudyFactory)
    expires_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=7))


class VoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vote

    pair = factory.SubFactory(PairFactory)
    study = factory.SelfAttribute("pair.study")
    rater = factory.SubFactory(RaterFactory)
    choice = Vote.Choice.A
    left_output = factory.SelfAttribute("pair.output_a")
    candidate_a = factory.SelfAttribute("pair.output_a.candidate")
    candidate_b = factory.SelfAttribute("pair.output_b.candidate")
    prompt = factory.SelfAttribute("pair.prompt")


class JudgeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Judge

    study = factory.SubFactory(StudyFactory)
    model = factory.Sequence(lambda n: f"openai/judge-{n}")


class JudgeVoteFactory(factory.django.DjangoModelFactory):
    """A finished judge call; pass ``verdict`` (canonical: a, b, tie, unparseable)."""

    class Meta:
        model = JudgeVote

    judge = factory.SubFactory(JudgeFactory)
    pair = factory.SubFactory(PairFactory, study=factory.SelfAttribute("..judge.study"))
    study = factory.SelfAttribute("judge.study")
    order = JudgeVote.Order.AB
    status = JudgeVote.Status.DONE
    verdict = JudgeVote.Verdict.A
