"""talkgs: talking-head videos to per-identity 3D Gaussian Splatting avatars and paper tables."""

import os

# Nothing in talkgs ever downloads: model hubs are off before any library can look at them.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# MediaPipe/TFLite write C++ log lines straight to stderr; keep only errors.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
