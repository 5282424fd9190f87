"""Dashboard pages, one module per URL (registered with dash.register_page)."""
