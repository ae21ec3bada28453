"""PromQL: promql-parser's AST evaluated by our engine over a narrow read interface."""
