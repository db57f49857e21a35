"""Shared by every stage: settings, the register contract, the identity-number check, the warehouse connection, code lists."""
