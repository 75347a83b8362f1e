"""The pose stage: rigid head pose from optical flow (M2DAO-Talker HPE) and camera files.

Modules: :mod:`.camera` (conventions, rotations), :mod:`.shape` (the identity's canonical face),
:mod:`.flow` (keypoints tracked by flow), :mod:`.ties` (keypoints tied to the face),
:mod:`.solve` (the joint fit, eq. 6), :mod:`.baseline` (per-frame PnP), :mod:`.estimate` (the
whole estimate), :mod:`.quality` (numbers and plot), :mod:`.transforms` (TalkingGaussian's
files), :mod:`.oracle` (comparison with the demo's truth), :mod:`.stage` (``run``).
"""

from talkgs.pose.estimate import PoseEstimate, PoseParams
from talkgs.pose.flow import FlowParams
from talkgs.pose.stage import PoseInputs, PoseOutputs, load, run

__all__ = [
    "FlowParams",
    "PoseEstimate",
    "PoseInputs",
    "PoseOutputs",
    "PoseParams",
    "load",
    "run",
]
