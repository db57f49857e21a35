"""workhealth."""
