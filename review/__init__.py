"""Review queue: approve, edit, reject and execute drafted outreaches."""
