"""Server-rendered pages of the review inbox (Jinja2 templates, no front-end build)."""
