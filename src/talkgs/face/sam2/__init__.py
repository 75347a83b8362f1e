"""SAM 2 image predictor without torchvision (M2DAO-Talker motion region segmentation, eq. 5).

The official ``sam2`` package imports torchvision, which has no build for talkgs's CPU torch.
This package re-implements only the image path (Hiera trunk, FPN neck, prompt encoder, mask
decoder, predictor) with the checkpoints' parameter names, so the official
``sam2.1_hiera_*.pt`` files and ``sam2.1_hiera_*.yaml`` configs load unchanged.
"""

from talkgs.face.sam2.config import Sam2Config, load_config
from talkgs.face.sam2.predictor import Sam2ImagePredictor
from talkgs.face.sam2.prompts import PROMPT_NAMES, portrait_prompts

__all__ = ["PROMPT_NAMES", "Sam2Config", "Sam2ImagePredictor", "load_config", "portrait_prompts"]
