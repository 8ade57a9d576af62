"""Helpers for the real-browser tests (JupyterLab and Voila driven by headless Chromium)."""
