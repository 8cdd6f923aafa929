"""Fixtures of the coursework round trip (tests/test_coursework.py): synthetic students and their mistakes."""
