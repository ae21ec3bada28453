"""LogQL: our lexer, parser and engine over a narrow read interface."""
