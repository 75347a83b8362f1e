"""The model families talkgs trains, one module each, registered by name.

Adding a family means writing one module with a :class:`~talkgs.train.families.base.Family`
subclass and adding it to :data:`FAMILIES`; the config schema's list of families is checked
against this registry (tests/test_train.py).
"""

from __future__ import annotations

from talkgs.train.families.base import FaceMotion, Family, GaussianFeature
from talkgs.train.families.hmtalker import HmTalker
from talkgs.train.families.m2dao import M2dao
from talkgs.train.families.talk2me import Talk2Me
from talkgs.train.families.talkinggaussian import TalkingGaussian

FAMILIES: dict[str, Family] = {
    family.name: family for family in (TalkingGaussian(), HmTalker(), M2dao(), Talk2Me())
}

__all__ = ["FAMILIES", "FaceMotion", "Family", "GaussianFeature"]
