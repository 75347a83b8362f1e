"""Model files (``methods/<method>/<stage>.pt``): what a training stage hands to the next stage
and to rendering. A dict of plain tensors and strings, loadable with
``torch.load(weights_only=True)``; tensors are saved from the host, so a file written on a GPU
loads on a CPU and the other way round."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from talkgs.errors import input_error
from talkgs.train.model import GaussianField, TalkingHead
from talkgs.train.presets import Method

# /2: the motion networks' linear layers have no bias terms (issue 20); a /1 file cannot be loaded
# into them and has to be retrained
MODEL_FORMAT = "talkgs-model/2"


def host_state(model: torch.nn.Module) -> dict[str, Tensor]:
    return {key: value.detach().cpu() for key, value in model.state_dict().items()}


def save_model(
    path: Path, model: TalkingHead, method: Method, stage: str, identity: str, iteration: int
) -> None:
    torch.save(
        {
            "format": MODEL_FORMAT,
            "identity": identity,
            "method": method.describe(),
            "stage": stage,
            "iteration": iteration,
            "face_count": len(model.face),
            "mouth_count": len(model.mouth),
            "state": host_state(model),
        },
        path,
    )


def load_model(
    path: Path, method: Method, audio_shape: tuple[int, int], device: torch.device | str = "cpu"
) -> TalkingHead:
    """A trained model file, checked against ``method``, on ``device``."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise input_error(path, f"cannot load the model ({str(error).splitlines()[0]})") from error
    if isinstance(blob, dict) and blob.get("format") == "talkgs-model/1":
        raise input_error(
            path,
            f"a talkgs-model/1 file, from before the motion networks lost their bias terms; "
            f"retrain it (snakemake -R train_face train_mouth) to get a {MODEL_FORMAT} file",
        )
    if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT:
        raise input_error(path, f"not a {MODEL_FORMAT} file")
    if blob["method"]["family"] != method.family:
        raise input_error(
            path, f"trained as family {blob['method']['family']}, not {method.family}"
        )
    model = model_from_state(
        blob["state"], blob["face_count"], blob["mouth_count"], method, audio_shape
    )
    return model.to(device)


def model_from_state(
    state: dict[str, Tensor],
    face_count: int,
    mouth_count: int,
    method: Method,
    audio_shape: tuple[int, int],
) -> TalkingHead:
    """A model of the saved Gaussian counts with ``state`` loaded, on the host."""

    def empty(count: int, extras: dict[str, Tensor] | None = None) -> GaussianField:
        return GaussianField(
            torch.zeros(count, 3), torch.full((count, 3), 0.5), torch.ones(count, 3), extras
        )

    features = method.spec.gaussian_features(method, face_count, torch.Generator())
    face = empty(face_count, {name: f.values for name, f in features.items()})
    model = TalkingHead(method, face, empty(mouth_count), audio_shape)
    model.load_state_dict(state)
    return model
