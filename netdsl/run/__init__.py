"""A run and its folder: the driver (phases, signals, checkpoints, resume), the run folder's
files, and multi-process launch.
"""
