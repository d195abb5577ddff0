"""One router per resource; each route declares its callers through an auth dependency."""
