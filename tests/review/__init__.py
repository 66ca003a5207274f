"""Review queue tests (their set-up is in tests/flows.py and tests/builders.py)."""
