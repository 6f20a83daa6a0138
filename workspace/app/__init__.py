"""The Streamlit workspace (`causality workspace`). `main.py` is the script Streamlit runs."""
