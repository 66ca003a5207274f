"""HTTP edge: FastAPI app, auth, problem+json errors and routes per resource."""
