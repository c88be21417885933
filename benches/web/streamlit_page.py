# The 20-widget page of `cargo bench --bench web`, written for Streamlit:
# the same widgets, labels and output as `twenty_widgets` in benches/web.rs.
import streamlit as st

clicks = st.session_state.setdefault("clicks", 0)
if st.button("Click", key="click"):
    clicks += 1
    st.session_state["clicks"] = clicks
st.text(f"clicks: {clicks}")
for i in range(5):
    st.text_input(f"Text {i}", key=f"text{i}")
for i in range(5):
    st.checkbox(f"Check {i}", key=f"check{i}")
for i in range(5):
    st.slider(f"Slider {i}", 0, 100, 50, key=f"slider{i}")
for i in range(4):
    st.number_input(f"Number {i}", value=i, key=f"number{i}")
