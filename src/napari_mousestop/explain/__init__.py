"""Explanations of a trained CNN: activation and evidence maps, occlusion, class comparisons
and their statistics, map files, a whole run.
"""
