"""Objectives: one contract over descriptors, benchmark functions, docking, assays, plugins."""
