"""The core every Overture package uses: settings, database, domain models, states and services."""
