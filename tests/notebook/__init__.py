"""Notebooks run headless in a real Jupyter kernel (nbclient)."""
