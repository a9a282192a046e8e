"""Rendering results: terminal and Markdown tables, SVG figures, the HTML report."""
