"""Goal and analysis judges for finished conversations."""
