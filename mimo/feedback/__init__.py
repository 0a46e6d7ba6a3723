"""Digits people collect in the app to teach the models their handwriting: the store that keeps
them (SQLite by default, PostgreSQL when shared), its errors, and the collection's use in
training and evaluation. Nothing here imports Streamlit.
"""
