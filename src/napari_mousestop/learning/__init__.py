"""The paper's CNN: configuration, input scaling, training (leave one cage out), checkpoints,
baselines, statistics, reports, prediction.
"""
