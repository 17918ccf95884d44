"""Objectives: a uniform contract over descriptors, benchmark functions, docking, assays, plugins."""
