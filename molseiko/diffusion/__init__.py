"""Pretrained generative models: masked discrete diffusion over token sequences."""
