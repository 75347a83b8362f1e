"""Per-identity training of the TalkingGaussian-family models: presets, data, model, stages."""
