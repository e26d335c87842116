"""Certification: pure checks over node facts, the periodic sweep, certificate issuing and revocation."""
