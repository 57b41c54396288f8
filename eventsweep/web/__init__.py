"""The web application (``eventsweep serve``): start sweeps, watch them live, search the store.

    app        create_app(config): the FastAPI application, its routers and middleware
    security   Host check, token login, session + CSRF, the headers on every response
    search     the query bar: URL parameters ↔ the store reader's filters, links
    histogram  count-over-time buckets as an SVG model (bars stacked by level)
    live       sweeps started here: runner.run + the store writer, watched over SSE
    inventory  inventory files, read only from the --inventory-dir directories
    api        the JSON API (/api/…), described by /api/openapi.json
    pages      the HTML pages (Jinja2, autoescaped), each the twin of an API route
    templates/ static/   the pages' templates, the project's own script and style

Every event field is attacker-controlled text: templates autoescape it, the script inserts it
with ``textContent`` only, and the Content-Security-Policy forbids inline scripts.
"""
