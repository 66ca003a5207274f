"""Manual tasks: the work list the ``tasks`` channel provider fills and people complete."""
