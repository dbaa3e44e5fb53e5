"""Preference data in and out: a study's votes as training records (DPO, KTO, reward models,
the battle format) with how contested each pair was, and battle-format vote files brought in.
"""
