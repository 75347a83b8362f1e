"""Per-frame features of an identity: action units, audio features, eye aspect ratio and blinks,
and the neutral frame."""
