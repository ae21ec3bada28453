"""Server-rendered pages shared by the services: base template, macros, static files."""
