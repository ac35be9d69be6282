"""Personality analysis (issue 8): instrument and scoring, behaviour and text estimates, their
combination, the profile services and selectors, learning advice and the re-ranking fit.

See docs/personality.md.
"""
