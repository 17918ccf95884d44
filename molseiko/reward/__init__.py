"""Ensemble reward models: mean as the reward estimate, member spread as the exploration bonus."""
