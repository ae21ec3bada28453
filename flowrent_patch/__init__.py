"""What FlowRent adds to report into flowmon (SPEC §7); talks to the stack over HTTP only."""
