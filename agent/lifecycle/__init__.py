"""The one place rows change status: each move is checked against its table in ``agent.states``,
applied by compare-and-set, and (for enrollments) written to the activity log in the same
transaction. Nothing else in the code base assigns a status."""
