"""The Streamlit web app: ``main.py`` routes, ``pages/`` lay out, the other modules compute."""
